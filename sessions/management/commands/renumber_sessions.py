"""Make existing session numbers follow dates (docs/ruptures.md, "Session numbers")."""

from django.core.management.base import BaseCommand, CommandError

from alliance.models import Client, Clinic
from sessions.services import sessions_renumber_existing


class Command(BaseCommand):
    help = (
        "Renumber each client's sessions in date order where they are not (sessions entered "
        "before numbers followed dates), and refresh those clients' flags: "
        "manage.py renumber_sessions [--clinic ID]"
    )

    def add_arguments(self, parser):
        parser.add_argument("--clinic", type=int, help="Only this clinic (its id).")

    def handle(self, *args, clinic: int | None, **options):
        clients = Client.objects.all()
        if clinic is not None:
            if not Clinic.objects.filter(pk=clinic).exists():
                raise CommandError(f"No clinic with id {clinic}.")
            clients = clients.filter(clinic_id=clinic)
        changed = sessions_renumber_existing(clients=clients)
        self.stdout.write(f"{changed} of {clients.count()} clients renumbered")
