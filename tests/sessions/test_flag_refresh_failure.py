"""Answers are stored even when the rupture engine fails after them (issue 16, D1).

The failure is logged and the client left for a retry (``PendingFlagRefresh``), which
``manage.py refresh_flags --pending`` makes once the engine works again.
"""

import logging
import threading
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.urls import reverse

from alliance.models import Client, Flag, PendingFlagRefresh
from measures.models import Rating
from sessions.formlinks import formlink_create
from tests.factories import TherapySessionFactory
from tests.sessions.conftest import form_post

pytestmark = pytest.mark.django_db


class BrokenEngine:
    """The rupture engine failing as it did with a 2**31 repair window (OverflowError)."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.broken()

    def broken(self):
        def detect(*args, **kwargs):
            raise OverflowError("Python int too large to convert to C long")

        self.monkeypatch.setattr("alliance.flags.services.detect", detect)

    def mended(self):
        self.monkeypatch.undo()


@pytest.fixture
def engine(monkeypatch):
    return BrokenEngine(monkeypatch)


def test_the_clients_answers_are_stored_when_the_refresh_fails(client, form_link, engine, caplog):
    link, token = form_link
    with caplog.at_level(logging.ERROR, logger="alliance.flags.services"):
        response = client.post(reverse("client_form", args=[token]), form_post(uuid.uuid4()))
    assert response.status_code == 302
    assert Rating.objects.filter(session=link.session).count() == 1
    pending = PendingFlagRefresh.objects.get(client=link.session.client)
    assert (pending.attempts, pending.error) == (1, "OverflowError")
    assert "Flag refresh failed for client" in caplog.text

    # The next form is stored too, and the same client counts a second failure.
    later = TherapySessionFactory(client=link.session.client, number=2)
    _link, second = formlink_create(session=later, created_by=link.created_by)
    response = client.post(reverse("client_form", args=[second]), form_post(uuid.uuid4()))
    assert response.status_code == 302
    assert Rating.objects.filter(session=later).count() == 1
    pending.refresh_from_db()
    assert pending.attempts == 2


def test_the_therapists_rating_is_stored_when_the_refresh_fails(
    client, therapy_session, therapist, engine
):
    client.force_login(therapist)
    url = reverse("rating_new", args=[therapy_session.pk])
    answers = dict.fromkeys(("bond_1", "bond_2", "goal_1", "goal_2", "task_1", "task_2"), "4")
    response = client.post(url, {**answers, "submission_id": str(uuid.uuid4())})
    assert response.status_code == 302, response.content.decode()
    assert Rating.objects.filter(session=therapy_session, rater="therapist").count() == 1
    assert PendingFlagRefresh.objects.filter(client=therapy_session.client).exists()


def test_the_retry_refreshes_once_the_engine_works(client, form_link, engine):
    link, token = form_link
    client.post(reverse("client_form", args=[token]), form_post(uuid.uuid4(), tension="yes"))
    assert not Flag.objects.exists()
    with pytest.raises(CommandError, match="1 clients' flags still fail"):
        call_command("refresh_flags", "--pending")
    assert PendingFlagRefresh.objects.get().attempts == 2

    engine.mended()
    call_command("refresh_flags", "--pending")
    assert not PendingFlagRefresh.objects.exists()
    assert Flag.objects.get(client=link.session.client).rule == "client_reported_tension"


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite has no row locks (run with DATABASE_URL=postgres://...)",
)
@pytest.mark.django_db(transaction=True)
def test_a_client_held_by_a_long_recomputation_does_not_hold_the_answers(
    client, form_link, monkeypatch, caplog
):
    """A clinic-wide recomputation holds every client's row until it ends: the form waits a
    short while for it, then stores the answers and leaves the refresh for the retry."""
    monkeypatch.setattr("alliance.flags.services.AFTER_RATING_LOCK_WAIT", "200ms")
    link, token = form_link
    held, release = threading.Event(), threading.Event()

    def recomputation():
        with transaction.atomic():
            Client.objects.select_for_update().get(pk=link.session.client_id)
            held.set()
            release.wait(30)
        connections.close_all()

    thread = threading.Thread(target=recomputation)
    thread.start()
    assert held.wait(10)
    try:
        with caplog.at_level(logging.WARNING, logger="alliance.flags.services"):
            response = client.post(reverse("client_form", args=[token]), form_post(uuid.uuid4()))
    finally:
        release.set()
        thread.join()
    assert response.status_code == 302
    assert Rating.objects.filter(session=link.session).count() == 1
    assert PendingFlagRefresh.objects.get(client=link.session.client).error == "OperationalError"
    assert "busy" in caplog.text

    call_command("refresh_flags", "--pending")
    assert not PendingFlagRefresh.objects.exists()
