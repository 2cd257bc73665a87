"""The client form's query budget: opening and sending it (scoring, storing, the client's
flag refresh) reads with the same number of queries for a course of 3 sessions and of 30,
in a clinic of 2 clients and of 20, and writes within a fixed budget (a flag refresh
writes only what changed: new, changed or retired flags, one statement each kind).
Counted, never timed (manage.py bench has the times)."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alliance.flags import selectors as flag_selectors
from sessions.formlinks import formlink_create
from tests.factories import ClientFactory, TherapySessionFactory, rating_of
from tests.sessions.conftest import form_post

pytestmark = pytest.mark.django_db


def _course(client, instruments, sessions: int) -> None:
    start = timezone.now() - dt.timedelta(weeks=sessions + 1)
    for number in range(1, sessions + 1):
        session = TherapySessionFactory(
            client=client, number=number, starts_at=start + dt.timedelta(weeks=number)
        )
        # Alternating highs and lows: the engine finds drops, so flags are written too.
        value = 5 if number % 2 else 2
        answers = dict.fromkeys(["bond_1", "goal_1", "task_1", "bond_2", "goal_2", "task_2"], value)
        rating_of(session, instruments["client"], answers=answers, refresh_flags=False)
        rating_of(session, instruments["therapist"], refresh_flags=False)


def _reads(captured) -> int:
    return sum(1 for q in captured if q["sql"].lstrip().upper().startswith("SELECT"))


def _queries(client, therapist, person, next_number: int) -> tuple[int, int, int]:
    session = TherapySessionFactory(client=person, number=next_number, status="scheduled")
    _link, token = formlink_create(session=session, created_by=therapist)
    url = reverse("client_form", args=[token])
    with CaptureQueriesContext(connection) as opened:
        assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as sent:
        assert client.post(url, form_post(uuid.uuid4())).status_code == 302
    return len(opened), _reads(sent.captured_queries), len(sent)


def test_the_client_form_takes_the_same_queries_for_a_short_and_a_long_course(
    client, therapist, instruments
):
    short = ClientFactory(primary_therapist=therapist, code="SHORT")
    _course(short, instruments, 3)
    # The clinic norms are cached for an hour: warm, as on a server in use.
    flag_selectors.clinic_norms_for(therapist.clinic)
    small = _queries(client, therapist, short, 4)

    long = ClientFactory(primary_therapist=therapist, code="LONG")
    _course(long, instruments, 30)
    for n in range(18):
        _course(ClientFactory(primary_therapist=therapist, code=f"OTHER-{n}"), instruments, 2)
    large = _queries(client, therapist, long, 31)

    assert small[:2] == large[:2]
    opened, _reads_sent, sent = large
    assert opened <= 5
    # Link, instrument, submission check, consume, the session locked and checked rateable,
    # rating, answers, scores, flags (lock, scores, existing episodes and flags, writes, in a
    # savepoint of its own so that a failure cannot lose the rating, and its retry mark
    # cleared), the session completed, audit: a fixed budget. PostgreSQL bounds the wait for
    # the client's row with two more statements (SET LOCAL lock_timeout). A rupture found
    # (as here) adds the therapist's notice: episodes with their therapist, the insert, its
    # audit event, in a savepoint of their own (notify.services.notices_create_for_episodes).
    assert max(small[2], sent) <= 40 + (2 if connection.vendor == "postgresql" else 0)
