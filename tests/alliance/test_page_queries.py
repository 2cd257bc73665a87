"""Query budgets of the per-client pages (issue 9): the client page with its chart, and the
client's exports, take the same number of queries for a course of 3 sessions and of 30.
(Caseloads, dashboards, packets and the API have theirs in test_caseload.py,
test_dashboards.py, test_packet.py and tests/api/test_queries.py.) Counted, never timed."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import ClientFactory, FlagFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

ITEMS = ["bond_1", "goal_1", "task_1", "bond_2", "goal_2", "task_2"]
PAGES = ["client_detail", "client_export_csv", "client_export_xlsx", "client_export_record"]


def _course(client, instruments, sessions: int) -> None:
    start = timezone.now() - dt.timedelta(weeks=sessions + 1)
    for number in range(1, sessions + 1):
        session = TherapySessionFactory(
            client=client, number=number, starts_at=start + dt.timedelta(weeks=number)
        )
        answers = dict.fromkeys(ITEMS, 5 if number % 3 else 2)
        rating_of(session, instruments["client"], answers=answers, refresh_flags=False)
        rating_of(session, instruments["therapist"], refresh_flags=False)
        if number % 3 == 0:
            FlagFactory(session=session)


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        if response.streaming:  # a streamed export reads the database while it is sent
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url_name", PAGES)
def test_client_pages_take_the_same_queries_for_3_and_30_sessions(
    client, therapist, instruments, url_name
):
    client.force_login(therapist)
    short = ClientFactory(primary_therapist=therapist, code="SHORT")
    _course(short, instruments, 3)
    long = ClientFactory(primary_therapist=therapist, code="LONG")
    _course(long, instruments, 30)
    small = _queries(client, reverse(url_name, args=[short.pk]))
    large = _queries(client, reverse(url_name, args=[long.pk]))
    assert small == large
    assert large <= 20
