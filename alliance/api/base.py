"""What every API view shares: clinic-local datetimes and integer ids in paths."""

from django.utils import timezone
from rest_framework import status, viewsets
from rest_framework.response import Response


class ClinicTimeMixin:
    """Datetimes in the user's clinic timezone, whichever way they authenticated.

    The clinic timezone middleware runs before DRF authenticates a token, so the API
    activates the timezone itself once the user is known.
    """

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        clinic = getattr(request.user, "clinic", None)
        if clinic is not None:
            timezone.activate(clinic.tzinfo)


class ScopedReadOnlyViewSet(ClinicTimeMixin, viewsets.ReadOnlyModelViewSet):
    """pretix-style: an empty queryset by default; ``get_queryset`` applies the user's scope."""

    lookup_value_regex = "[0-9]+"


class ScopedViewSet(ClinicTimeMixin, viewsets.GenericViewSet):
    """Reads as above; writes go through the UI's services and answer what a read shows."""

    lookup_value_regex = "[0-9]+"

    def read_back(self, pk: int, code: int = status.HTTP_200_OK) -> Response:
        """The object as a read shows it, after a service has written it."""
        return Response(self.get_serializer(self.get_queryset().get(pk=pk)).data, status=code)
