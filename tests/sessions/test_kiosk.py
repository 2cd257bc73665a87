"""Tablet hand-over: the device stays on the client form until the therapist's password."""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from alliance.models import AccessEvent
from measures.models import Rating
from sessions.formlinks import formlink_create, formlink_kiosk_needs_confirmation
from sessions.kiosk import KIOSK_SESSION_KEY, MAX_WRONG_PASSWORDS
from sessions.models import FormLink
from tests.sessions.conftest import checked, form_post, item_text

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # tests.factories.UserFactory


@pytest.fixture
def handed_over(client, therapist, therapy_session):
    """A therapist's browser handed over for the session's client form."""
    client.force_login(therapist)
    response = client.post(reverse("kiosk_hand_over", args=[therapy_session.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("kiosk_form")
    return client


def test_handing_over_makes_a_kiosk_link_and_locks_the_browser(handed_over, therapy_session):
    link = FormLink.objects.get()
    assert link.channel == FormLink.Channel.KIOSK
    assert link.session == therapy_session
    assert handed_over.session[KIOSK_SESSION_KEY]["link"] == link.pk
    page = handed_over.get(reverse("kiosk_form")).content.decode()
    assert item_text("bond_1", "en") in page
    assert therapy_session.client.code not in page
    assert "Caseload" not in page and "Log out" not in page


def test_kiosk_pages_keep_a_same_origin_referer_for_their_forms(handed_over):
    # With no-referrer a browser posts "Origin: null", which Django's CSRF check refuses.
    for url in (reverse("kiosk_form"), reverse("kiosk_hand_back")):
        response = handed_over.get(url)
        assert response["Referrer-Policy"] == "same-origin"
        assert 'name="referrer"' not in response.content.decode()


@pytest.mark.parametrize(
    "path",
    ["/", "/caseload/", "/admin/", "/clients/1/", "/api/", "/no-such-page/", "/login/"],
)
def test_every_other_page_asks_for_the_password(handed_over, path):
    response = handed_over.get(path)
    assert response.status_code == 302
    assert response["Location"] == reverse("kiosk_hand_back")


def test_other_client_links_are_locked_out_too(handed_over, form_link):
    _link, token = form_link  # a link made earlier (revoked by the hand-over, but still)
    response = handed_over.get(reverse("client_form", args=[token]))
    assert response["Location"] == reverse("kiosk_hand_back")


def test_the_client_sends_the_form_and_sees_hand_back(handed_over, therapy_session):
    submission_id = uuid.uuid4()
    response = handed_over.post(reverse("kiosk_form"), form_post(submission_id))
    assert response.status_code == 302
    assert response["Location"] == reverse("kiosk_done")
    rating = Rating.objects.get()
    assert rating.session == therapy_session
    assert rating.submission_id == submission_id
    done = handed_over.get(reverse("kiosk_done")).content.decode()
    assert "Please hand the device back to your therapist." in done
    # Back button or a second tap: the form stays done, and still one rating.
    assert handed_over.get(reverse("kiosk_form"))["Location"] == reverse("kiosk_done")
    again = handed_over.post(reverse("kiosk_form"), form_post(submission_id))
    assert again["Location"] == reverse("kiosk_done")
    assert Rating.objects.count() == 1
    # Still locked.
    assert handed_over.get("/caseload/")["Location"] == reverse("kiosk_hand_back")


def test_the_kiosk_form_keeps_answers_on_error_and_switches_language(handed_over):
    response = handed_over.post(
        reverse("kiosk_form"), form_post(uuid.uuid4(), {"bond_1": "3"}, language="es")
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="es">' in page
    assert checked(page, "bond_1") == {"3"}
    response = handed_over.post(reverse("kiosk_form"), form_post(uuid.uuid4(), {"bond_1": "3"}))
    assert response.status_code == 400
    assert not Rating.objects.exists()


def test_done_before_sending_goes_back_to_the_form(handed_over):
    assert handed_over.get(reverse("kiosk_done"))["Location"] == reverse("kiosk_form")


def test_a_wrong_password_keeps_the_lock(handed_over):
    response = handed_over.post(reverse("kiosk_hand_back"), {"password": "guess"})
    assert response.status_code == 400
    assert "That password is not right." in response.content.decode()
    assert handed_over.get("/caseload/")["Location"] == reverse("kiosk_hand_back")


def test_the_therapists_password_unlocks_and_returns_to_the_session(handed_over, therapy_session):
    handed_over.post(reverse("kiosk_form"), form_post(uuid.uuid4()))
    response = handed_over.post(reverse("kiosk_hand_back"), {"password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert KIOSK_SESSION_KEY not in handed_over.session
    assert "The client&#x27;s answers were saved." in response.content.decode()
    assert handed_over.get("/caseload/").status_code == 200


def test_unlocking_without_an_answer_cancels_the_kiosk_link(handed_over):
    handed_over.post(reverse("kiosk_hand_back"), {"password": PASSWORD})
    link = FormLink.objects.get()
    assert link.revoked_at is not None and link.used_at is None
    assert handed_over.get(reverse("kiosk_form")).status_code == 404


def test_logging_out_clears_the_lock(handed_over):
    response = handed_over.post(reverse("logout"))
    assert response.status_code == 302
    assert KIOSK_SESSION_KEY not in handed_over.session
    assert handed_over.get("/login/").status_code == 200


def test_too_many_wrong_passwords_log_the_therapist_out(handed_over):
    for _ in range(MAX_WRONG_PASSWORDS):
        response = handed_over.post(reverse("kiosk_hand_back"), {"password": "guess"})
    assert response["Location"] == reverse("login")
    assert KIOSK_SESSION_KEY not in handed_over.session
    assert "_auth_user_id" not in handed_over.session


def test_the_hand_back_page_is_rate_limited(handed_over, settings):
    settings.ALLIANCE_FORM_RATE_LIMIT = 2
    statuses = [handed_over.get(reverse("kiosk_hand_back")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_a_revoked_kiosk_link_asks_for_the_device_back(handed_over, therapy_session, therapist):
    formlink_create(session=therapy_session, created_by=therapist)  # e.g. from another device
    response = handed_over.get(reverse("kiosk_form"))
    assert response.status_code == 410
    assert "Please hand the device back to your therapist." in response.content.decode()


def test_kiosk_pages_without_a_hand_over(client, therapist):
    client.force_login(therapist)
    assert client.get(reverse("kiosk_form")).status_code == 404
    assert client.get(reverse("kiosk_hand_back"))["Location"] == reverse("home")


def test_clinician_pages_are_not_cached_by_the_browser(client, therapist):
    client.force_login(therapist)
    assert "no-store" in client.get("/caseload/")["Cache-Control"]


def test_the_kiosk_form_is_audited_by_its_link(handed_over, therapy_session):
    link = FormLink.objects.get()
    start = AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    handed_over.get(reverse("kiosk_form"))
    handed_over.post(reverse("kiosk_form"), form_post(uuid.uuid4()))
    handed_over.get(reverse("kiosk_form"))  # used: on to kiosk_done
    events = AccessEvent.objects.filter(pk__gt=start, url_name="kiosk_form").order_by("pk")
    assert [(e.action, e.roles) for e in events] == [
        ("read", "kiosk"),
        ("create", "kiosk"),
        ("read", "kiosk"),
    ]
    client = therapy_session.client
    assert {(e.object_id, e.client_id) for e in events} == {(link.pk, client.pk)}


# --- an older session needs the therapist's confirmation ---------------------------------


@pytest.fixture
def old_session(therapy_session):
    """A session held three weeks ago: older than the clinic's default of 2 days."""
    therapy_session.starts_at = timezone.now() - dt.timedelta(weeks=3)
    therapy_session.save(update_fields=["starts_at"])
    return therapy_session


def test_an_older_session_is_not_handed_over_unconfirmed(client, therapist, old_session):
    client.force_login(therapist)
    page = client.get(old_session.get_absolute_url()).content.decode()
    assert 'name="confirm_older_session"' in page
    assert "This session was 21 days ago" in page
    response = client.post(reverse("kiosk_hand_over", args=[old_session.pk]), follow=True)
    assert response.redirect_chain[-1][0] == old_session.get_absolute_url()
    assert "Confirm that the client is to fill in the form" in response.content.decode()
    assert not FormLink.objects.exists()
    assert KIOSK_SESSION_KEY not in client.session
    with pytest.raises(ValidationError) as refused:
        formlink_create(session=old_session, created_by=therapist, channel=FormLink.Channel.KIOSK)
    assert refused.value.code == "confirm_older_session"


def test_a_confirmed_older_session_is_handed_over_under_its_date(client, therapist, old_session):
    client.force_login(therapist)
    response = client.post(
        reverse("kiosk_hand_over", args=[old_session.pk]), {"confirm_older_session": "on"}
    )
    assert response["Location"] == reverse("kiosk_form")
    assert FormLink.objects.get().channel == FormLink.Channel.KIOSK
    page = client.get(reverse("kiosk_form")).content.decode()
    day = date_format(
        timezone.localtime(old_session.starts_at, ZoneInfo("America/New_York")), "j M Y"
    )
    assert f"<h1>About your session on {day}</h1>" in page
    assert "About today" not in page


def test_links_sent_to_the_client_need_no_confirmation(therapist, old_session):
    link, _token = formlink_create(session=old_session, created_by=therapist)
    assert link.channel == FormLink.Channel.LINK


@pytest.mark.parametrize(("days", "confirm"), [(0, True), (1, False), (2, False)])
def test_the_clinic_sets_how_old_a_session_may_be(therapist, therapy_session, days, confirm):
    """A session of yesterday in the clinic's timezone, and the clinic's limit in days."""
    clinic = therapy_session.client.clinic
    clinic.kiosk_session_days = days
    clinic.save(update_fields=["kiosk_session_days"])
    evening = dt.datetime(2026, 12, 2, 20, 0, tzinfo=ZoneInfo(clinic.timezone))
    therapy_session.starts_at = evening
    therapy_session.save(update_fields=["starts_at"])
    # 10:00 on 3 Dec in New York: the session was yesterday there (and today in UTC).
    with time_machine.travel(evening + dt.timedelta(hours=14), tick=False):
        assert formlink_kiosk_needs_confirmation(session=therapy_session) is confirm


@pytest.mark.parametrize(
    ("value", "status", "stored"), [("7", 302, 7), ("91", 400, 2), ("-1", 400, 2)]
)
def test_the_clinic_admin_sets_the_limit_on_the_security_page(
    client, clinic_admin, value, status, stored
):
    client.force_login(clinic_admin)
    page = client.get(reverse("clinic_security")).content.decode()
    assert 'name="kiosk_session_days"' in page and 'max="90"' in page
    data = {"retention_days": 2557, "kiosk_session_days": value}
    response = client.post(reverse("clinic_security"), data)
    assert response.status_code == status
    clinic_admin.clinic.refresh_from_db()
    assert clinic_admin.clinic.kiosk_session_days == stored
