"""A synthetic clinic at a chosen scale, written with bulk inserts.

Courses are drawn from a seeded generator, so a scale always gives the same clinic. Answers
are scored by the real scoring core (measures.scoring) and the flags come from the real
rupture engine (services.flags_refresh_for_clinic); only the per-row rating service is
skipped, as it would take minutes at scale M (its sessions' client forms are then set in one
UPDATE, by the function the service calls). Sessions, ratings, item answers and scale
scores are written as plain rows, a chunk of clients at a time (COPY on PostgreSQL, see
alliance/devtools/bench/loading.py): scale L has ~7 million item answers.
"""

import datetime as dt
import functools
import io
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from alliance.devtools.bench.loading import IdBlock, Table, reset_sequences
from alliance.flags.services import flags_refresh_for_clinic
from alliance.models import Client, Clinic, Flag, Supervision, User
from measures.models import ItemAnswer, Rater, Rating, ScaleScore
from measures.scoring import score_answers
from measures.selectors import instrument_definition, instrument_for
from measures.services import sessions_client_form_refresh
from sessions.models import TherapySession

BATCH = 5000
# Clients whose sessions and ratings are written together (COPY per table per chunk).
CHUNK = 500
# Share of sessions cancelled or missed, and of held sessions without a client form.
CANCELLED_SHARE = 0.05
MISSING_FORM_SHARE = 0.07
# Share of clients whose course has a rupture (a drop of ~1.7 points), half of them repaired.
RUPTURE_SHARE = 0.2


@dataclass(frozen=True)
class Scale:
    """How big a clinic: clients spread over therapists, each with a course of sessions."""

    name: str
    clients: int
    therapists: int = 10
    sessions: tuple[int, int] = (10, 50)  # fewest and most sessions per client (mean ~30)
    seed: int = 20260101
    supervised: int | None = None  # therapists the benchmark's supervisor has (None: all)


SCALES = {
    "S": Scale("S", clients=50),
    "M": Scale("M", clients=1000),
    # A clinic network: 400 therapists with 50 clients each; the supervisor has 10 of them.
    "L": Scale("L", clients=20_000, therapists=400, supervised=10),
}


def bench_clinic_name(scale: Scale) -> str:
    return f"Bench clinic {scale.name}"


def is_bench_clinic(clinic: Clinic) -> bool:
    """A clinic this module built (its people have no password: ``loadtest_prepare``)."""
    return clinic.name in {bench_clinic_name(scale) for scale in SCALES.values()}


@dataclass
class BenchClinic:
    """What the scenarios need from the built clinic."""

    clinic: Clinic
    supervisor: User
    admin: User
    therapists: list[User]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def therapist(self) -> User:
        return self.therapists[0]

    def busiest_client(self) -> Client:
        """The first therapist's client with the most sessions (the chart's worst case)."""
        return (
            Client.objects.filter(primary_therapist=self.therapist)
            .order_by("-sessions__number", "pk")
            .first()
        )


def build_clinic(scale: Scale, *, refresh_flags: bool = True) -> BenchClinic:
    """Write a clinic of ``scale`` into the current database (the benchmark's own)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    call_command("load_instruments", stdout=io.StringIO())
    rng = np.random.default_rng(scale.seed)
    with transaction.atomic():
        clinic = Clinic.objects.create(name=bench_clinic_name(scale), timezone="America/New_York")
        bench = _people(clinic, scale)
        clients = _clients(clinic, bench.therapists, scale, rng)
        sessions = _sessions(clients, scale, rng)
        timings["people, clients, sessions"] = time.perf_counter() - started
        mark = time.perf_counter()
        ratings = _ratings(clinic, sessions, rng)
        # As the rating service keeps them: each session's client form and total.
        sessions_client_form_refresh(sessions=TherapySession.objects.filter(client__clinic=clinic))
        timings["ratings"] = time.perf_counter() - mark
    if refresh_flags:
        mark = time.perf_counter()
        flags_refresh_for_clinic(clinic=clinic)
        timings["flags"] = time.perf_counter() - mark
    # Planner statistics and PostgreSQL's visibility map, as autovacuum keeps them on a
    # clinic in use (since PostgreSQL 13 it vacuums tables that only grow, too): without
    # statistics the caseload's correlated subqueries are planned badly (seconds, not
    # tenths); without the visibility map every index-only scan reads the table as well
    # (~10 % of the M supervisor dashboard's SQL). VACUUM cannot run inside a transaction
    # (the tests build a clinic inside one): there, statistics only.
    vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
    mark = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")
    timings["analyze"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    bench.counts = {
        "therapists": len(bench.therapists),
        "clients": len(clients),
        "sessions": len(sessions),
        "ratings": ratings,
        "flags": Flag.objects.filter(client__clinic=clinic).count(),
    }
    bench.seconds = timings
    return bench


def load_clinic(scale: Scale, report: dict) -> BenchClinic:
    """The clinic ``build_clinic(scale)`` wrote, read back from a kept copy (see
    alliance/devtools/bench/database.py), with its build's ``report``."""
    clinic = Clinic.objects.get(name=bench_clinic_name(scale))
    people = User.objects.filter(clinic=clinic)
    return BenchClinic(
        clinic=clinic,
        supervisor=people.get(username="bench-supervisor"),
        admin=people.get(username="bench-admin"),
        therapists=list(people.filter(is_therapist=True).order_by("username")),
        counts=report["counts"],
        seconds=report["seconds"],
    )


def _people(clinic: Clinic, scale: Scale) -> BenchClinic:
    def person(username: str, **roles) -> User:
        user = User(username=username, clinic=clinic, first_name=username.title(), **roles)
        user.set_unusable_password()
        return user

    therapists = User.objects.bulk_create(
        [
            person(f"bench-therapist-{n:02d}", last_name=f"T{n:02d}", is_therapist=True)
            for n in range(1, scale.therapists + 1)
        ]
    )
    supervisor = person("bench-supervisor", last_name="Supervisor", is_supervisor=True)
    admin = person("bench-admin", last_name="Admin", is_clinic_admin=True)
    supervisor.save()
    admin.save()
    Supervision.objects.bulk_create(
        [Supervision(supervisor=supervisor, therapist=t) for t in therapists[: scale.supervised]]
    )
    return BenchClinic(clinic=clinic, supervisor=supervisor, admin=admin, therapists=therapists)


def _clients(clinic, therapists, scale: Scale, rng) -> list[Client]:
    return Client.objects.bulk_create(
        [
            Client(
                clinic=clinic,
                code=f"B-{n:05d}",
                primary_therapist=therapists[n % len(therapists)],
            )
            for n in range(scale.clients)
        ],
        batch_size=BATCH,
    )


@dataclass
class _Course:
    level: float
    rupture_at: int  # 0: none
    repaired: bool


@dataclass
class _Session:
    id: int
    client_id: int
    therapist_id: int
    number: int
    starts_at: dt.datetime
    status: str
    course: _Course


def _sessions(clients, scale: Scale, rng) -> list[_Session]:
    """Weekly sessions ending in the last week, and the next one scheduled."""
    now = timezone.now()
    ids = IdBlock(TherapySession)
    sessions = []
    low, high = scale.sessions
    for client in clients:
        count = int(rng.integers(low, high + 1))
        course = _Course(
            level=float(np.clip(rng.normal(4.0, 0.4), 2.2, 4.9)),
            rupture_at=(
                int(rng.integers(4, count + 1))
                if count >= 4 and rng.random() < RUPTURE_SHARE
                else 0
            ),
            repaired=bool(rng.random() < 0.5),
        )
        last = now - dt.timedelta(days=int(rng.integers(1, 7)), hours=int(rng.integers(0, 8)))
        for number in range(1, count + 2):
            if number > count:
                status = TherapySession.Status.SCHEDULED
            elif rng.random() < CANCELLED_SHARE:
                status = TherapySession.Status.CANCELLED
            else:
                status = TherapySession.Status.COMPLETED
            sessions.append(
                _Session(
                    id=ids.take(),
                    client_id=client.pk,
                    therapist_id=client.primary_therapist_id,
                    number=number,
                    starts_at=last - dt.timedelta(weeks=count - number),
                    status=status,
                    course=course,
                )
            )
    table = Table(
        TherapySession,
        [
            "id",
            "client_id",
            "therapist_id",
            "number",
            "starts_at",
            "status",
            "client_form",
            "created_at",
            "updated_at",
        ],
    )
    for start in range(0, len(sessions), CHUNK * 30):
        table.write(
            (s.id, s.client_id, s.therapist_id, s.number, s.starts_at, s.status, False, now, now)
            for s in sessions[start : start + CHUNK * 30]
        )
    reset_sequences(TherapySession)
    return sessions


def _level(course: _Course, number: int, rng) -> float:
    level = course.level + rng.normal(0, 0.1)
    if course.rupture_at and number >= course.rupture_at:
        back = course.repaired and number >= course.rupture_at + 2
        level += 0.2 if back else -1.7
    return level


def _ratings(clinic, sessions: list[_Session], rng) -> int:
    """Client and therapist ratings of the completed sessions, scored by the real core
    (once per distinct set of answers), with their item answers and scale scores."""
    instruments = {rater: instrument_for(clinic=clinic, rater=rater) for rater in Rater.values}
    definitions = {rater: instrument_definition(i) for rater, i in instruments.items()}

    @functools.cache
    def scored(rater: str, values: tuple[int, ...]) -> list[tuple[str, float | None, int]]:
        keys = [item.key for item in definitions[rater].items]
        results = score_answers(definitions[rater], dict(zip(keys, values, strict=True)))
        return [(scale, r.score, r.n_answered) for scale, r in results.items()]

    now = timezone.now()
    ids = IdBlock(Rating)
    tables = {
        "ratings": Table(
            Rating,
            [
                "id",
                "session_id",
                "instrument_id",
                "rater",
                "submitted_by_id",
                "submitted_at",
                "submission_id",
                "tension",
                "updated_at",
            ],
        ),
        "answers": Table(ItemAnswer, ["rating_id", "item", "value"]),
        "scores": Table(ScaleScore, ["rating_id", "scale", "score", "n_answered"]),
    }
    rows: dict[str, list[tuple]] = {name: [] for name in tables}
    made = 0

    def flush() -> None:
        for name, table in tables.items():
            table.write(rows[name])
            rows[name].clear()

    for session in sessions:
        if session.status != TherapySession.Status.COMPLETED:
            continue
        level = _level(session.course, session.number, rng)
        submitted = session.starts_at + dt.timedelta(minutes=55)
        for rater in (Rater.CLIENT, Rater.THERAPIST):
            if rater == Rater.CLIENT and rng.random() < MISSING_FORM_SHARE:
                continue
            mean = level if rater == Rater.CLIENT else level - 0.35
            items = definitions[rater].items
            top = items[0].response.max
            values = tuple(
                int(v) for v in np.clip(np.rint(mean + rng.normal(0, 0.35, len(items))), 1, top)
            )
            rating_id = ids.take()
            rows["ratings"].append(
                (
                    rating_id,
                    session.id,
                    instruments[rater].pk,
                    rater,
                    session.therapist_id if rater == Rater.THERAPIST else None,
                    submitted,
                    uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | made),
                    (bool(rng.random() < 0.05) if rater == Rater.CLIENT else None),
                    now,
                )
            )
            rows["answers"] += [
                (rating_id, item.key, value) for item, value in zip(items, values, strict=True)
            ]
            rows["scores"] += [(rating_id, *score) for score in scored(rater, values)]
            made += 1
        if len(rows["ratings"]) >= CHUNK * 50:
            flush()
    flush()
    reset_sequences(Rating)
    return made
