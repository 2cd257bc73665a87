"""manage.py loadtest_prepare: what scripts/loadtest.py needs to play a clinic's day.

Writes a plan (JSON) with fresh one-time client form links (one new session each, as a
therapist would hand them out), the clinicians to sign in as with the pages they open, and
the client form's items. The links are real: each is good for one form. Run it against the
database `make serve` uses; it adds sessions to the clinic, so use a copy or the demo data.

A benchmark clinic (``manage.py bench``, "Bench clinic M"...) has people without a password:
here its clinicians are given the plan's, so a copy of a kept benchmark clinic can be load
tested. Other clinics' passwords are never touched.
"""

import datetime as dt
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from alliance.devtools import demo
from alliance.devtools.bench.synthetic import is_bench_clinic
from alliance.models import Client, Clinic, User
from measures.definitions import format_number
from measures.models import Rater
from measures.selectors import instrument_definition, instrument_for
from sessions import formlinks
from sessions.services import session_schedule

# The pages a therapist reads per client at most (the plan stays small).
CLIENTS_PER_THERAPIST = 50


class Command(BaseCommand):
    help = (
        "Create fresh client form links (one new session each) and write the load test's "
        "plan: tokens, clinicians and their pages, the form's items."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clinic", default=demo.CLINIC_NAME, help="Clinic name.")
        parser.add_argument("--links", type=int, default=200, help="Form links to create.")
        parser.add_argument("--out", default="var/loadtest/plan.json", help="The plan file.")
        parser.add_argument(
            "--password",
            default=demo.PASSWORD,
            help="The clinicians' password, written into the plan (the demo's by default).",
        )

    def handle(self, *args, clinic: str, links: int, out: str, password: str, **options):
        if links < 1:
            raise CommandError("--links must be at least 1.")
        found = Clinic.objects.filter(name=clinic).first()
        if found is None:
            raise CommandError(
                f"No clinic named {clinic!r}: load the demo data first "
                "(manage.py load_instruments && manage.py seed_demo)."
            )
        clients = list(
            Client.objects.active()
            .filter(clinic=found, primary_therapist__is_active=True)
            .select_related("primary_therapist", "clinic")
            .order_by("pk")
        )
        if not clients:
            raise CommandError(f"{clinic} has no active clients.")
        if is_bench_clinic(found):
            self._give_password(found, password)
        definition = instrument_definition(instrument_for(clinic=found, rater=Rater.CLIENT))
        tokens = self._links(clients, links)
        plan = {
            "created_at": timezone.now().isoformat(timespec="seconds"),
            "clinic": found.name,
            "password": password,
            "form_tokens": tokens,
            "items": {
                item.key: [format_number(value) for value in item.response.values]
                for item in definition.items
            },
            "therapists": self._therapists(found, clients),
            "supervisors": list(
                User.objects.filter(clinic=found, is_supervisor=True, is_active=True)
                .order_by("username")
                .values_list("username", flat=True)
            ),
        }
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(plan, indent=1) + "\n")
        self.stdout.write(
            f"{len(tokens)} form links, {len(plan['therapists'])} therapists, "
            f"{len(plan['supervisors'])} supervisors of {found.name} written to {path}"
        )

    def _links(self, clients: list[Client], count: int) -> list[str]:
        """One new session per link, an hour ago, with its client's primary therapist."""
        started = timezone.now() - dt.timedelta(hours=1)
        tokens = []
        for n in range(count):
            client = clients[n % len(clients)]
            with transaction.atomic():
                session = session_schedule(
                    client=client, therapist=client.primary_therapist, starts_at=started
                )
                _link, token = formlinks.formlink_create(
                    session=session, created_by=client.primary_therapist
                )
            tokens.append(token)
        return tokens

    def _give_password(self, clinic: Clinic, password: str) -> None:
        """The benchmark clinic's clinicians sign in with the plan's password (one hash,
        shared: set_password for each would take seconds at L)."""
        hashed = User(password="")
        hashed.set_password(password)
        clinicians = User.objects.filter(clinic=clinic, is_active=True).exclude(is_staff=True)
        clinicians.update(password=hashed.password)

    def _therapists(self, clinic: Clinic, clients: list[Client]) -> list[dict]:
        by_therapist: dict[int, list[int]] = {}
        for client in clients:
            by_therapist.setdefault(client.primary_therapist_id, []).append(client.pk)
        therapists = User.objects.filter(
            clinic=clinic, is_therapist=True, is_active=True, pk__in=by_therapist
        ).order_by("username")
        return [
            {"username": t.username, "clients": by_therapist[t.pk][:CLIENTS_PER_THERAPIST]}
            for t in therapists
        ]
