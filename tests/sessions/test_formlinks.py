"""The one-time link lifecycle (sessions.formlinks) and the clinician endpoints that make links."""

import datetime as dt
import hashlib
import re
import uuid

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from measures.models import Rater, Rating
from measures.selectors import instrument_for
from sessions.formlinks import (
    FormLinkExpired,
    FormLinkNotFound,
    FormLinkRevoked,
    FormLinkUsed,
    SessionAlreadyRated,
    formlink_create,
    formlink_resolve,
    formlink_submit,
)
from sessions.models import FormLink, TherapySession
from tests.factories import ClientFactory, TherapistFactory, TherapySessionFactory, rating_of
from tests.sessions.conftest import CLIENT_ANSWERS

pytestmark = pytest.mark.django_db

ANSWERS = {key: int(value) for key, value in CLIENT_ANSWERS.items()}
NO_QUESTIONS = {"tension": None, "tension_addressed": None, "comment": None}


def submit(link, submission_id=None, answers=ANSWERS):
    return formlink_submit(
        link=link,
        instrument=instrument_for(clinic=link.session.client.clinic, rater=Rater.CLIENT),
        answers=answers,
        questions=NO_QUESTIONS,
        submission_id=submission_id or uuid.uuid4(),
        language="en",
    )


# --- creating ----------------------------------------------------------------------------


def test_a_link_stores_only_the_hash_of_a_256_bit_token(form_link):
    link, token = form_link
    assert len(token) == 43  # 32 random bytes, URL-safe base64
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(FormLink.objects.filter(pk=link.pk).values().get())


def test_a_link_expires_after_the_clinics_hours(therapy_session, therapist):
    therapy_session.client.clinic.form_link_hours = 24
    therapy_session.client.clinic.save()
    before = timezone.now()
    link, _token = formlink_create(session=therapy_session, created_by=therapist)
    assert before + dt.timedelta(hours=24) <= link.expires_at
    assert link.expires_at <= timezone.now() + dt.timedelta(hours=24)


def test_the_default_expiry_is_72_hours(form_link):
    link, _token = form_link
    assert link.expires_at - link.created_at == pytest.approx(
        dt.timedelta(hours=72), abs=dt.timedelta(seconds=1)
    )


def test_a_new_link_revokes_the_previous_one(form_link, therapy_session, therapist):
    first, first_token = form_link
    second, second_token = formlink_create(session=therapy_session, created_by=therapist)
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert list(FormLink.objects.live()) == [second]
    with pytest.raises(FormLinkRevoked):
        formlink_resolve(first_token)
    assert formlink_resolve(second_token) == second


@pytest.mark.parametrize("status", [TherapySession.Status.CANCELLED, TherapySession.Status.NO_SHOW])
def test_no_link_for_a_cancelled_or_missed_session(therapy_session, therapist, status):
    therapy_session.status = status
    therapy_session.save()
    with pytest.raises(ValidationError):
        formlink_create(session=therapy_session, created_by=therapist)


def test_no_link_once_the_client_has_rated_the_session(form_link, therapy_session, therapist):
    submit(form_link[0])
    with pytest.raises(ValidationError):
        formlink_create(session=therapy_session, created_by=therapist)


# --- resolving ---------------------------------------------------------------------------


def test_a_fresh_token_resolves_to_its_link(form_link):
    link, token = form_link
    assert formlink_resolve(token) == link


@pytest.mark.parametrize(
    "token", ["", "short", "x" * 43 + "y", "a" * 42 + "!", "../../etc/passwd", "a" * 43]
)
def test_malformed_or_unknown_tokens_are_not_found(form_link, token):
    with pytest.raises(FormLinkNotFound) as caught:
        formlink_resolve(token)
    assert caught.value.status == 404
    assert caught.value.link is None


def test_a_tampered_token_is_not_found(form_link):
    _link, token = form_link
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(FormLinkNotFound):
        formlink_resolve(tampered)


def test_a_link_expires(form_link):
    link, token = form_link
    with time_machine.travel(link.expires_at - dt.timedelta(seconds=1)):
        assert formlink_resolve(token) == link
    with time_machine.travel(link.expires_at + dt.timedelta(seconds=1)):
        with pytest.raises(FormLinkExpired) as caught:
            formlink_resolve(token)
        assert caught.value.status == 410
        # An expired link cannot be consumed either, even when it was resolved before.
        with pytest.raises(FormLinkExpired):
            submit(link)
    assert Rating.objects.count() == 0


# --- consuming ---------------------------------------------------------------------------


def test_submitting_consumes_the_link_and_stores_the_rating(form_link):
    link, token = form_link
    rating, created = submit(link)
    assert created
    assert rating.session == link.session
    assert rating.rater == "client"
    link.refresh_from_db()
    assert link.used_at is not None
    with pytest.raises(FormLinkUsed) as caught:
        formlink_resolve(token)
    assert caught.value.status == 410


def test_a_link_is_used_once(form_link):
    link, _token = form_link
    submit(link)
    with pytest.raises(FormLinkUsed):
        submit(link)
    assert Rating.objects.count() == 1


def test_the_same_submission_again_returns_the_stored_rating(form_link):
    link, _token = form_link
    submission_id = uuid.uuid4()
    first, created = submit(link, submission_id)
    again, created_again = submit(link, submission_id)
    assert created and not created_again
    assert again == first
    assert Rating.objects.count() == 1


def test_invalid_answers_leave_the_link_unused(form_link):
    link, token = form_link
    with pytest.raises(ValidationError) as caught:
        submit(link, answers={**ANSWERS, "bond_1": 9})
    assert "bond_1" in caught.value.message_dict
    assert formlink_resolve(token) == link
    assert Rating.objects.count() == 0


def test_a_revoked_link_cannot_be_consumed(form_link, therapy_session, therapist):
    link, _token = form_link
    formlink_create(session=therapy_session, created_by=therapist)
    with pytest.raises(FormLinkRevoked):
        submit(link)


def test_a_session_rated_another_way_refuses_the_link_and_keeps_it(
    form_link, therapy_session, instruments
):
    link, token = form_link
    rating_of(therapy_session, instruments["client"])  # e.g. entered on paper, imported
    with pytest.raises(SessionAlreadyRated) as caught:
        submit(link)
    assert caught.value.status == 410
    assert formlink_resolve(token) == link  # rolled back with the refused rating


def test_another_sessions_submission_id_is_refused(form_link, client_of_therapist, therapist):
    other = TherapySessionFactory(client=client_of_therapist, number=2)
    other_link, _token = formlink_create(session=other, created_by=therapist)
    taken = uuid.uuid4()
    submit(other_link, taken)
    link, token = form_link
    with pytest.raises(SessionAlreadyRated):
        submit(link, taken)
    assert formlink_resolve(token) == link


# --- clinician endpoints -----------------------------------------------------------------


def new_link_url(session):
    return reverse("formlink_new", args=[session.pk])


def test_the_therapist_gets_a_url_and_a_qr_code(client, therapist, therapy_session, settings):
    settings.ALLIANCE_BASE_URL = "https://forms.example.org"
    client.force_login(therapist)
    response = client.post(new_link_url(therapy_session), {"channel": "qr"})
    assert response.status_code == 200
    link = FormLink.objects.get()
    assert link.channel == FormLink.Channel.QR
    assert link.created_by == therapist
    page = response.content.decode()
    url = page.split('id="formlink-url" value="')[1].split('"')[0]
    assert url.startswith("https://forms.example.org/f/")
    token = url.removeprefix("https://forms.example.org/f/").rstrip("/")
    assert formlink_resolve(token) == link
    assert re.search(r'<svg viewBox="[^"]+" class="qr-code"><title>', page)
    assert "no-store" in response["Cache-Control"]


def test_the_clients_primary_therapist_may_make_a_link(client, therapist, therapy_session):
    colleague = TherapistFactory(username="colleague", clinic=therapist.clinic)
    therapy_session.therapist = colleague
    therapy_session.save()
    client.force_login(therapist)
    assert client.post(new_link_url(therapy_session)).status_code == 200


def test_making_a_link_needs_a_post(client, therapist, therapy_session):
    client.force_login(therapist)
    assert client.get(new_link_url(therapy_session)).status_code == 405
    assert not FormLink.objects.exists()


def test_making_a_link_needs_a_login(client, therapy_session):
    response = client.post(new_link_url(therapy_session))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not FormLink.objects.exists()


def test_a_refused_link_says_why(client, therapist, therapy_session):
    therapy_session.status = TherapySession.Status.CANCELLED
    therapy_session.save()
    client.force_login(therapist)
    response = client.post(new_link_url(therapy_session), follow=True)
    assert "A cancelled or missed session has no client form." in response.content.decode()
    assert not FormLink.objects.exists()


@pytest.fixture
def therapist_of_another_clinic(db):
    return ClientFactory(code="X-1").primary_therapist


@pytest.mark.parametrize("endpoint", ["formlink_new", "kiosk_hand_over"])
@pytest.mark.parametrize(
    "who",
    [
        "other_therapist",  # same clinic, not this client's therapist
        "therapist_of_another_clinic",
        "supervisor",  # sees the session, but only reads
    ],
)
def test_only_the_clients_therapists_hand_out_the_form(
    client, therapy_session, request, who, endpoint
):
    client.force_login(request.getfixturevalue(who))
    response = client.post(reverse(endpoint, args=[therapy_session.pk]))
    assert response.status_code == 404
    assert not FormLink.objects.exists()


def test_the_session_panel_shows_the_state_and_the_actions(rf, therapist, supervisor, form_link):
    from django.template.loader import render_to_string

    link, token = form_link

    def panel(user):
        request = rf.get("/")
        request.user = user
        return render_to_string(
            "sessions/includes/client_form_panel.html",
            {"session": link.session, "request": request},
        )

    mine = panel(therapist)
    assert "is waiting for the client" in mine
    assert reverse("kiosk_hand_over", args=[link.session.pk]) in mine
    assert token not in mine
    theirs = panel(supervisor)
    assert "is waiting for the client" in theirs
    assert reverse("kiosk_hand_over", args=[link.session.pk]) not in theirs

    submit(link)
    done = panel(therapist)
    assert "The client filled in the form on" in done
    assert reverse("formlink_new", args=[link.session.pk]) not in done
