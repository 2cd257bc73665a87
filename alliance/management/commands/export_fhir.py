"""Write a clinic's (or one client's) ratings as a FHIR R4 Bundle to standard output."""

import json

from django.core.management.base import BaseCommand, CommandError

from alliance.interop import fhir
from alliance.models import Client, Clinic


class Command(BaseCommand):
    help = "Export ratings as a FHIR R4 Bundle (JSON): manage.py export_fhir --clinic ID > b.json"

    def add_arguments(self, parser):
        parser.add_argument("--clinic", type=int, required=True, help="The clinic's id.")
        parser.add_argument("--client", help="Only this client (their code).")
        parser.add_argument(
            "--validate",
            action="store_true",
            help="Parse every resource with fhir.resources first; fail on any problem.",
        )

    def handle(self, *args, clinic: int, client: str | None, validate: bool, **options):
        found = Clinic.objects.filter(pk=clinic).first()
        if found is None:
            raise CommandError(f"No clinic with id {clinic}.")
        if client is not None and not Client.objects.filter(clinic=found, code=client).exists():
            raise CommandError(f"No client {client!r} in {found}.")
        data = fhir.clinic_bundle(found, client_code=client)
        if validate:
            problems = fhir.bundle_validate(data)
            if problems:
                raise CommandError("Invalid FHIR:\n" + "\n".join(problems[:20]))
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
