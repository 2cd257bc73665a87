"""manage.py bench_audit [--repeat N]: what the audit log costs a request.

Builds a small clinic in the benchmark's own database (alliance.devtools.bench.database: a temporary
SQLite file, or <name>_bench on PostgreSQL), then requests client-data pages and API
endpoints with the audit middleware on and off and prints, per URL, the SQL queries and the
median server time of each, and the difference.
"""

import datetime as dt
import io
import statistics
import time
from unittest import mock

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client as TestClient
from django.test.utils import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from alliance.clients.services import client_create
from alliance.devtools.bench.database import bench_database
from alliance.models import Clinic, Episode, Flag, User
from alliance.security import audit
from measures.models import Instrument
from measures.services import rating_record
from sessions.services import session_schedule


def _clinic() -> dict:
    """A therapist with one client, five rated sessions and an episode with a flag; returns
    what to request."""
    call_command("load_instruments", stdout=io.StringIO())
    clinic = Clinic.objects.create(name="Bench Clinic", timezone="Europe/Madrid")
    therapist = User.objects.create_user(
        "bench-therapist", password="bench password 1", clinic=clinic, is_therapist=True
    )
    client = client_create(clinic=clinic, primary_therapist=therapist, code="B-0001")
    instruments = {i.rater: i for i in Instrument.objects.all()}
    now = timezone.now()
    sessions = []
    for weeks in range(5, 0, -1):
        session = session_schedule(
            client=client,
            therapist=therapist,
            starts_at=now - dt.timedelta(weeks=weeks),
            status="completed",
            refresh_flags=False,
        )
        for rater, instrument in instruments.items():
            answers = {item["key"]: 4 for item in instrument.definition["items"]}
            rating_record(
                session=session,
                instrument=instrument,
                answers=answers,
                submitted_by=therapist if rater == "therapist" else None,
            )
        sessions.append(session)
    episode = Episode.objects.create(
        client=client, session=sessions[-1], last_session=sessions[-1], kind="rupture"
    )
    Flag.objects.create(
        client=client,
        episode=episode,
        session=sessions[-1],
        rater="client",
        scale="total",
        rule=Flag.Rule.RELIABLE_DROP,
        magnitude=1,
        explanation="bench",
    )
    return {
        "therapist": therapist,
        "urls": [
            ("page", client.get_absolute_url()),
            ("page", sessions[-1].get_absolute_url()),
            ("page", episode.get_absolute_url()),
            ("page", "/caseload/"),
            ("api", f"/api/v1/clients/{client.pk}/"),
            ("api", f"/api/v1/sessions/{sessions[-1].pk}/"),
            ("api", "/api/v1/ratings/"),
            ("api", f"/api/v1/episodes/{episode.pk}/"),
        ],
    }


def _queries(request) -> int:
    count = 0

    def counter(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        request()
    return count


def _measure(request, repeat: int) -> dict:
    """Queries of one request with the audit middleware's work on and off, and the median
    time (ms) of `repeat` requests each, on and off alternating (so caches warm both)."""
    record = audit.record_request
    state = {"on": True}

    def maybe_record(request, response):
        return record(request, response) if state["on"] else None

    times = {True: [], False: []}
    queries = {}
    with mock.patch("alliance.security.audit.record_request", maybe_record):
        for on in (True, False):
            state["on"] = on
            request()  # warm: the session's last-seen time is written now, not below
            queries[on] = _queries(request)
        for _ in range(repeat):
            for on in (True, False):
                state["on"] = on
                started = time.perf_counter()
                request()
                times[on].append((time.perf_counter() - started) * 1000)
    return {
        "queries_on": queries[True],
        "queries_off": queries[False],
        "ms_on": statistics.median(times[True]),
        "ms_off": statistics.median(times[False]),
    }


class Command(BaseCommand):
    help = "Time the audit log's middleware: SQL queries and median ms per request, on and off."

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=100, help="Timed requests per URL.")

    def handle(self, *args, repeat: int, **options):
        if repeat < 1:
            raise CommandError("--repeat must be at least 1.")
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]), bench_database():
            built = _clinic()
            browser = TestClient()
            browser.force_login(built["therapist"])
            api = TestClient(
                HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=built['therapist']).key}"
            )
            self.stdout.write(
                f"{'URL':<28} {'queries on':>10} {'off':>5} {'ms on':>8} {'off':>8} {'+ms':>7}"
            )
            extra_queries, extra_ms = [], []
            for kind, url in built["urls"]:
                client = browser if kind == "page" else api

                def request(client=client, url=url):
                    response = client.get(url)
                    if response.status_code != 200:
                        raise CommandError(f"{url} answered {response.status_code}")

                m = _measure(request, repeat)
                extra_queries.append(m["queries_on"] - m["queries_off"])
                extra_ms.append(m["ms_on"] - m["ms_off"])
                self.stdout.write(
                    f"{url:<28} {m['queries_on']:>10} {m['queries_off']:>5} {m['ms_on']:>8.2f} "
                    f"{m['ms_off']:>8.2f} {m['ms_on'] - m['ms_off']:>+7.2f}"
                )
            self.stdout.write(
                f"Audit overhead: {min(extra_queries)}-{max(extra_queries)} queries and a median "
                f"{statistics.median(extra_ms):+.2f} ms per request ({connection.vendor}, "
                f"{repeat} requests per URL)."
            )
