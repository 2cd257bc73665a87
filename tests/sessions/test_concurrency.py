"""Twenty simultaneous submissions of one link store exactly one rating (PostgreSQL)."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from alliance.flags import services as flag_services
from measures.models import Rating
from sessions.formlinks import formlink_create
from sessions.models import FormLink
from tests.factories import ClientFactory, TherapistFactory, TherapySessionFactory
from tests.sessions.conftest import form_post

THREADS = 20


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_submissions_of_one_link_store_one_rating(
    instruments, settings, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite serialises every writer, so there is no race to test "
            "(run with DATABASE_URL=postgres://...)"
        )
    settings.ALLIANCE_FORM_RATE_LIMIT = 1000

    # The winner holds its transaction open a moment (as a slow flag refresh would), so the
    # others reach the consuming UPDATE while the link is still unused and must wait on it.
    def slow_refresh(**_):
        time.sleep(0.3)
        return flag_services.FlagRefresh()

    monkeypatch.setattr(flag_services, "flags_refresh_for_client", slow_refresh)
    therapist = TherapistFactory(username="race-therapist")
    session = TherapySessionFactory(client=ClientFactory(primary_therapist=therapist), number=1)
    _link, token = formlink_create(session=session, created_by=therapist)
    url = reverse("client_form", args=[token])
    thanks = reverse("client_form_thanks", args=[token])

    # Half the threads resend one form (a double tap, two tabs); the others are other forms.
    shared = uuid.uuid4()
    submission_ids = [shared if i % 2 else uuid.uuid4() for i in range(THREADS)]
    start = threading.Barrier(THREADS)

    def submit(submission_id):
        try:
            start.wait(timeout=30)
            response = Client().post(url, form_post(submission_id))
            return submission_id, response.status_code, response.get("Location")
        finally:
            connections.close_all()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(submit, submission_ids))

    rating = Rating.objects.get()  # exactly one
    assert FormLink.objects.get().used_at is not None
    for submission_id, status, location in results:
        if submission_id == rating.submission_id:
            # The winner, and every resend of the same form: the thank-you page.
            assert (status, location) == (302, thanks)
        else:
            # Every other form: a clear "already sent" answer.
            assert status == 410, (status, location)
