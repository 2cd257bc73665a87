"""One rule decides whether a session can be rated (sessions.services.session_check_rateable),
and every path applies it: the API, the client's link, the tablet, the import, and making a
form link. A cancelled or missed session, or one that has not started, gets no rating."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from alliance.interop.imports import ratings_import_check
from measures.models import Rating
from sessions.formlinks import formlink_create
from sessions.models import FormLink, TherapySession
from sessions.services import (
    NotRateable,
    session_check_rateable,
    session_set_status,
    session_update,
)
from tests.factories import TherapySessionFactory
from tests.sessions.conftest import checked, form_post

pytestmark = pytest.mark.django_db

Status = TherapySession.Status
TOMORROW = dt.timedelta(days=1)


def form_url(token):
    return reverse("client_form", args=[token])


@pytest.fixture
def scheduled_link(client_of_therapist, therapist, instruments):
    """A link made for a session that started an hour ago, still marked scheduled."""
    session = TherapySessionFactory(
        client=client_of_therapist,
        number=1,
        status=Status.SCHEDULED,
        starts_at=timezone.now() - dt.timedelta(hours=1),
    )
    return formlink_create(session=session, created_by=therapist)


@pytest.mark.parametrize(
    ("status", "starts_in", "code"),
    [
        (Status.CANCELLED, -TOMORROW, "closed"),
        (Status.NO_SHOW, -TOMORROW, "closed"),
        (Status.SCHEDULED, TOMORROW, "not_started"),
        (Status.SCHEDULED, dt.timedelta(minutes=1), "not_started"),
        (Status.SCHEDULED, -dt.timedelta(minutes=1), None),
        (Status.COMPLETED, -TOMORROW, None),
    ],
)
def test_the_rule(client_of_therapist, status, starts_in, code):
    session = TherapySessionFactory(
        client=client_of_therapist, status=status, starts_at=timezone.now() + starts_in
    )
    if code is None:
        session_check_rateable(session=session)
    else:
        with pytest.raises(NotRateable) as refused:
            session_check_rateable(session=session)
        assert refused.value.code == code


def test_a_link_to_a_session_cancelled_since_stores_nothing(client, scheduled_link):
    link, token = scheduled_link
    session_set_status(session=link.session, status=Status.CANCELLED)

    page = client.get(form_url(token))
    assert page.status_code == 409
    assert "This session was cancelled or missed, so there is nothing to fill in." in (
        page.content.decode()
    )

    sent = client.post(form_url(token), form_post(uuid.uuid4(), tension="yes", comment="Hm."))
    assert sent.status_code == 409
    text = sent.content.decode()
    assert "Your answers could not be sent: this session was cancelled or missed" in text
    assert checked(text, "bond_1") == {"5"} and "Hm." in text
    assert not Rating.objects.exists()
    link.refresh_from_db()
    assert link.used_at is None
    assert TherapySession.objects.get().status == Status.CANCELLED


def test_a_link_to_a_session_moved_to_tomorrow_waits_for_it(client, scheduled_link):
    link, token = scheduled_link
    starts_at = timezone.now() + TOMORROW
    session_update(session=link.session, starts_at=starts_at, note="")

    page = client.get(form_url(token))
    assert page.status_code == 409
    assert "Your session has not started yet" in page.content.decode()

    submission_id = uuid.uuid4()
    sent = client.post(form_url(token), form_post(submission_id))
    assert sent.status_code == 409
    assert "has not started yet. They are kept below" in sent.content.decode()
    assert checked(sent.content.decode(), "goal_2") == {"3"}
    assert not Rating.objects.exists()
    assert TherapySession.objects.get().status == Status.SCHEDULED

    # Once the session has started, the kept answers go through.
    with time_machine.travel(starts_at + dt.timedelta(minutes=50)):
        assert client.post(form_url(token), form_post(submission_id)).status_code == 302
    assert Rating.objects.get().session.status == Status.COMPLETED


@pytest.mark.parametrize("endpoint", ["formlink_new", "kiosk_hand_over"])
def test_no_link_nor_hand_over_before_the_session_has_started(
    client, therapist, client_of_therapist, instruments, endpoint
):
    session = TherapySessionFactory(
        client=client_of_therapist, status=Status.SCHEDULED, starts_at=timezone.now() + TOMORROW
    )
    client.force_login(therapist)
    response = client.post(reverse(endpoint, args=[session.pk]), follow=True)
    assert response.redirect_chain[-1][0] == session.get_absolute_url()
    message = "This session has not started yet: the client form can be handed out once it has."
    assert message in response.content.decode()
    assert not FormLink.objects.exists()


def test_the_tablet_keeps_the_answers_when_the_session_was_cancelled(
    client, therapist, scheduled_link
):
    link, _token = scheduled_link
    client.force_login(therapist)
    assert client.post(reverse("kiosk_hand_over", args=[link.session.pk])).status_code == 302
    TherapySession.objects.update(status=Status.CANCELLED)  # e.g. from another device

    sent = client.post(reverse("kiosk_form"), form_post(uuid.uuid4()))
    assert sent.status_code == 409
    assert checked(sent.content.decode(), "bond_1") == {"5"}
    assert "Your answers could not be sent" in sent.content.decode()
    assert not Rating.objects.exists()
    assert client.get(reverse("kiosk_form")).status_code == 409


def test_the_import_applies_the_same_rule(client_of_therapist, instruments):
    clinic = client_of_therapist.clinic
    TherapySessionFactory(client=client_of_therapist, number=1, status=Status.CANCELLED)
    TherapySessionFactory(
        client=client_of_therapist,
        number=2,
        status=Status.SCHEDULED,
        starts_at=timezone.now() + TOMORROW,
    )
    later = timezone.localdate(timezone.now() + 3 * TOMORROW, timezone=clinic.tzinfo)
    rows = ["R-0001,1,,client,4", "R-0001,2,,client,4", f"R-0001,3,{later.isoformat()},client,4"]
    text = "client_code,session_number,session_date,rater,bond_1\n" + "\n".join(rows) + "\n"
    problems = {
        (p.row, p.column): p.message
        for p in ratings_import_check(clinic=clinic, text=text).problems
    }
    assert problems == {
        (2, "session_number"): "Session 1 was cancelled: there is nothing to rate.",
        (3, "session_number"): "Session 2 has not started yet: rate it once it has taken place.",
        (4, "session_date"): "Session 3 has not started yet: rate it once it has taken place.",
    }


def test_the_client_is_told_in_spanish(client, scheduled_link):
    link, token = scheduled_link
    session_update(session=link.session, starts_at=timezone.now() + TOMORROW, note="")
    page = client.get(form_url(token) + "?lang=es")
    assert page.status_code == 409
    assert "Su sesión aún no ha empezado" in page.content.decode()
    assert "Vuelva a abrir este enlace cuando la sesión haya empezado." in page.content.decode()
