"""Request middleware for the clinic's local time."""

from django.utils import timezone


class ClinicTimezoneMiddleware:
    """Show and read datetimes in the signed-in user's clinic timezone (stored in UTC)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        clinic = getattr(request.user, "clinic", None)
        if clinic is None:
            return self.get_response(request)
        timezone.activate(clinic.tzinfo)
        try:
            return self.get_response(request)
        finally:
            # The thread serves other requests next: never leave one clinic's zone behind.
            timezone.deactivate()
