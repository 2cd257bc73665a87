"""The demo clinic's stories come out of the rupture engine as they were built."""

import io

import pytest
from django.core.management import call_command

from alliance.devtools.demo import COURSES
from alliance.models import Flag

pytestmark = pytest.mark.django_db

DROP_RULES = ("reliable_drop", "sudden_loss", "below_baseline")
# Client code -> (session of the drop, repair status of the client-rated total's reliable drop).
RUPTURES = {
    "RDC-001": (8, "repaired"),
    "RDC-007": (17, "repaired"),
    "RDC-014": (6, "repaired"),
    "RDC-020": (11, "repaired"),
    "RDC-002": (8, "unrepaired"),
    "RDC-016": (8, "unrepaired"),
    "RDC-011": (17, "pending"),
}
MISSING_FORMS = {"RDC-005", "RDC-017", "RDC-024"}
CEILING = {"RDC-006"}
OVERRATED = {"RDC-009", "RDC-023"}


def clients_with(rule: str, **filters) -> set[str]:
    return set(
        Flag.objects.filter(rule=rule, **filters).values_list("client__code", flat=True).distinct()
    )


def test_the_demo_clients_are_flagged_as_their_stories_were_built(instruments):
    call_command("seed_demo", stdout=io.StringIO())
    courses = {course.code: course for course in COURSES}
    assert {code for code, course in courses.items() if course.rupture_at} == set(RUPTURES)

    for code, (number, repair) in RUPTURES.items():
        drop = Flag.objects.get(
            client__code=code,
            rule="reliable_drop",
            rater="client",
            scale="total",
            session__number=number,
        )
        assert drop.repair_status == repair, (code, drop.explanation)
        if repair == "repaired":
            assert number < drop.repaired_session.number <= number + 3
        assert Flag.objects.filter(
            client__code=code, rule="client_reported_tension", session__number=number
        ).exists()

    # Nobody else's client-rated total shows a drop: the steady, rising, missing-form,
    # ceiling and over-rated courses only show their own signals.
    dropped = set()
    for rule in DROP_RULES:
        dropped |= clients_with(rule, rater="client", scale="total")
    assert dropped == set(RUPTURES)

    assert clients_with("missing_forms") == MISSING_FORMS
    for code in MISSING_FORMS:
        flag = Flag.objects.get(client__code=code, rule="missing_forms")
        assert flag.magnitude >= 3 and "No client form was recorded" in flag.explanation

    assert clients_with("ceiling") == CEILING
    assert "scale maximum (5.0) in each of the first 3 sessions" in (
        Flag.objects.get(rule="ceiling").explanation
    )

    # Over-rated clients: the therapist rates well above the client in the second half.
    # Ruptured clients show the gap too while the rupture lasts (the therapist misses it).
    discrepant = clients_with("rater_discrepancy")
    assert discrepant - set(RUPTURES) == OVERRATED
    for code in OVERRATED:
        half = courses[code].sessions // 2
        numbers = Flag.objects.filter(client__code=code, rule="rater_discrepancy").values_list(
            "session__number", flat=True
        )
        assert numbers and min(numbers) > half

    # Every flag is active after seeding; a full recomputation changes nothing.
    assert not Flag.objects.filter(retired_at__isnull=False).exists()
    out = io.StringIO()
    call_command("refresh_flags", stdout=out)
    assert "0 new, 0 updated, 0 retired, 0 back" in out.getvalue()


# The clients whose story calls for a look (docs/ruptures.md, "The demo's list"): an
# unrepaired or pending rupture, missing forms, a ceiling run, a therapist who rates well above
# the client; and three whose last two sessions brought something new (RDC-013 and RDC-022: a
# pending drop of the therapist's rating; RDC-021: tension reported at the last session).
NEED_A_LOOK = {
    "RDC-002": "unrepaired rupture",
    "RDC-016": "unrepaired rupture",
    "RDC-011": "rupture, repair pending",
    "RDC-005": "client forms missing",
    "RDC-017": "client forms missing",
    "RDC-024": "client forms missing",
    "RDC-006": "ratings at the ceiling",
    "RDC-009": "therapist rates higher",
    "RDC-023": "therapist rates higher",
    "RDC-013": "new: therapist-rated drop, pending",
    "RDC-022": "new: therapist-rated drop, pending",
    "RDC-021": "new: tension reported",
}


def test_the_demos_list_is_the_clients_whose_story_calls_for_a_look(instruments):
    from alliance import dashboards
    from alliance.models import Episode, User

    call_command("seed_demo", stdout=io.StringIO())
    supervisor = User.objects.get(username="demo-supervisor")
    therapists = list(User.objects.filter(username__in=["demo-therapist", "demo-therapist2"]))
    queue = dashboards.risk_queue(supervisor, therapists, every_client=True, limit=100)
    listed = {c.client.code for c in queue.rows if dashboards.needs_a_look(c.risk)}
    assert listed == set(NEED_A_LOOK)
    for row in queue.rows:  # "No concerns" never beside an open flag
        assert row.client.open_episodes == 0 or dashboards.needs_a_look(row.risk), row.client.code
    # The repaired stories' ruptures were acknowledged with their repair.
    for code, (number, repair) in RUPTURES.items():
        episode = Episode.objects.get(client__code=code, session__number=number, kind="rupture")
        assert episode.repair_status == repair
        assert episode.status == ("acknowledged" if repair == "repaired" else "open")
    # Seeding again changes no episode's workflow.
    before = sorted(Episode.objects.values_list("pk", "status"))
    call_command("seed_demo", stdout=io.StringIO())
    assert sorted(Episode.objects.values_list("pk", "status")) == before
