"""Concurrent edits of one rating, and of one session, opened at the same revision: exactly
one wins, every other is refused as stale, nothing is silently overwritten (PostgreSQL)."""

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.utils import timezone

from measures.models import Rating, RatingChange
from measures.services import StaleRating, rating_update
from sessions import services
from sessions.models import TherapySession
from tests.factories import ClientFactory, TherapistFactory, TherapySessionFactory, rating_of

THREADS = 12

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite serialises every writer, so there is no race to test "
            "(run with DATABASE_URL=postgres://...)"
        )


def race(work) -> list[str]:
    """Run work(i) in THREADS threads released together; each returns "won" or "stale"."""
    start = threading.Barrier(THREADS)

    def run(i):
        try:
            start.wait(timeout=30)
            return work(i)
        finally:
            connections.close_all()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_concurrent_edits_of_one_rating_leave_one_winner(instruments):
    therapist = TherapistFactory(username="race-rater")
    session = TherapySessionFactory(client=ClientFactory(primary_therapist=therapist), number=1)
    rating = rating_of(session, instruments["therapist"], refresh_flags=False)
    keys = [f"{scale}_{n}" for scale in ("bond", "goal", "task") for n in (1, 2)]

    def edit(i):
        answers = dict.fromkeys(keys, 1 + i % 5)
        try:
            rating_update(
                rating=Rating.objects.get(pk=rating.pk),
                user=therapist,
                answers=answers,
                expected_revision=1,
            )
        except StaleRating:
            return "stale"
        return "won"

    results = race(edit)
    assert sorted(results) == ["stale"] * (THREADS - 1) + ["won"]
    rating.refresh_from_db()
    assert rating.revision == 2
    [change] = RatingChange.objects.filter(rating=rating)
    stored = {answer.item: answer.value for answer in rating.answers.all()}
    assert stored == change.new_answers  # the winner's answers, whole


def test_concurrent_edits_of_one_session_leave_one_winner(db):
    therapist = TherapistFactory(username="race-editor")
    session = TherapySessionFactory(client=ClientFactory(primary_therapist=therapist), number=1)
    start = timezone.now() - dt.timedelta(days=1)

    def edit(i):
        try:
            services.session_update(
                session=TherapySession.objects.get(pk=session.pk),
                starts_at=start + dt.timedelta(minutes=i),
                note=f"edit {i}",
                expected_revision=1,
            )
        except services.StaleSession:
            return "stale"
        return f"won {i}"

    results = race(edit)
    winners = [result for result in results if result != "stale"]
    assert len(winners) == 1
    session.refresh_from_db()
    winner = int(winners[0].split()[1])
    assert (session.note, session.revision) == (f"edit {winner}", 2)
    assert session.starts_at == start + dt.timedelta(minutes=winner)
    assert TherapySession.history.filter(id=session.pk, history_type="~").count() == 1
