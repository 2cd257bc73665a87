"""Load the demo clinic (deterministic, idempotent) and print the demo logins."""

from django.core.management.base import BaseCommand, CommandError

from alliance.devtools.demo import ACCOUNTS, PASSWORD, demo_seed
from measures.models import Instrument


class Command(BaseCommand):
    help = "Create the demo clinic, accounts and clients. Safe to run again."

    def handle(self, *args, **options) -> None:
        try:
            counts = demo_seed()
        except Instrument.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Demo clinic ready: {counts['clients']} clients, {counts['sessions']} sessions, "
            f"{counts['ratings']} ratings."
        )
        self.stdout.write(f"Demo logins (password '{PASSWORD}'):")
        for username, fields in ACCOUNTS.items():
            role = next(name for name in fields if name.startswith("is_"))[3:].replace("_", " ")
            self.stdout.write(f"  {username:17} {role}")
