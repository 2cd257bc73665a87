"""Print a one-time link where a person sets up their authenticator app (docs/security.md).

    manage.py two_factor_link root

For site staff (they have no clinic admin to make one) and for a clinic's first admin. The
link works once, for PASSWORD_RESET_TIMEOUT, and only while the person has no app; hand it
over in person or by a channel you trust.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp import user_has_device

from alliance.models import User
from alliance.security.services import two_factor_enrolment_link


class Command(BaseCommand):
    help = "Print a one-time two-factor setup link for a person."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        if user_has_device(user, confirmed=True):
            raise CommandError(
                f"{username} already has an authenticator app: they change it from their "
                "two-factor page after a code from it, or a clinic admin resets it first."
            )
        self.stdout.write(settings.ALLIANCE_BASE_URL + two_factor_enrolment_link(user=user))
