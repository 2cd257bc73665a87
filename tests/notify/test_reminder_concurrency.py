"""Eight reminder runs at the same moment send one reminder (PostgreSQL: real row locks)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections

from alliance.models import ClientContact
from alliance.notify import reminders
from sessions.formlinks import formlink_create
from sessions.models import FormLink, FormLinkReminder
from tests.factories import ClientFactory, TherapistFactory, TherapySessionFactory
from tests.notify.conftest import T0, at

THREADS = 8


@pytest.mark.django_db(transaction=True)
def test_parallel_runs_send_one_reminder(instruments):
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite serialises every writer, so there is no race to test "
            "(run with DATABASE_URL=postgres://...)"
        )
    with time_machine.travel(T0, tick=False) as clock:
        therapist = TherapistFactory(username="race-therapist")
        therapist.clinic.client_contact_details = True
        therapist.clinic.save()
        client = ClientFactory(primary_therapist=therapist)
        ClientContact.objects.create(
            client=client,
            address="race@mail.example",
            consent_recorded_by=therapist,
            consent_recorded_at=T0,
        )
        session = TherapySessionFactory(client=client, number=1)
        formlink_create(session=session, created_by=therapist, channel=FormLink.Channel.EMAIL)
        clock.move_to(at(24))
        start = threading.Barrier(THREADS)

        def run(_):
            try:
                start.wait(timeout=30)
                return reminders.formlink_reminders_send()
            finally:
                connections.close_all()

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            sent = list(pool.map(run, range(THREADS)))
    assert sum(sent) == 1
    assert len(mail.outbox) == 1
    assert FormLink.objects.get().reminders_sent == 1
    assert FormLinkReminder.objects.count() == 1
