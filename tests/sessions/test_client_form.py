"""The client's form behind a one-time link: what it shows, what it keeps, what it refuses."""

import datetime as dt
import logging
import re
import uuid
import zoneinfo

import pytest
import time_machine
from django.test import Client as BrowserClient
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from measures.models import Rating
from sessions.formlinks import formlink_create
from sessions.log_redaction import RedactFormTokens
from sessions.models import FormLink
from tests.factories import TherapySessionFactory
from tests.sessions.conftest import checked, form_post, item_text

pytestmark = pytest.mark.django_db


def form_url(token):
    return reverse("client_form", args=[token])


def thanks_url(token):
    return reverse("client_form_thanks", args=[token])


def test_the_clients_form_marks_a_scheduled_session_completed(client, form_link):
    link, token = form_link
    link.session.status = "scheduled"
    link.session.save(update_fields=["status"])
    response = client.post(form_url(token), form_post(uuid.uuid4()))
    assert response.status_code == 302
    link.session.refresh_from_db()
    assert link.session.status == "completed"


# --- showing -----------------------------------------------------------------------------


def clinic_day(session) -> str:
    """The session's date as the form names it: the clinic's format, in its timezone."""
    return date_format(timezone.localtime(session.starts_at, session.client.clinic.tzinfo), "j M Y")


# 20:00 in New York on 2 Dec (the clinic's timezone) is already 3 Dec in UTC.
EVENING = dt.datetime(2026, 12, 2, 20, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York"))


@pytest.mark.parametrize(
    ("now", "title"),
    [
        (EVENING + dt.timedelta(hours=2), "About today&#x27;s session"),
        (EVENING + dt.timedelta(hours=14), "About your session on 2 Dec 2026"),
        (EVENING + dt.timedelta(weeks=3), "About your session on 2 Dec 2026"),
    ],
)
def test_the_title_says_today_only_on_the_sessions_day_in_the_clinic(
    client, therapy_session, therapist, now, title
):
    assert therapy_session.client.clinic.timezone == "America/New_York"
    therapy_session.starts_at = EVENING
    therapy_session.save(update_fields=["starts_at"])
    with time_machine.travel(now, tick=False):
        _link, token = formlink_create(session=therapy_session, created_by=therapist)
        page = client.get(form_url(token)).content.decode()
    assert f"<h1>{title}</h1>" in page
    assert ("About today" in page) == ("today" in title)


def test_the_title_names_the_date_in_spanish(client, therapy_session, therapist):
    therapy_session.starts_at = EVENING
    therapy_session.save(update_fields=["starts_at"])
    therapy_session.client.language = "es"
    therapy_session.client.save(update_fields=["language"])
    with time_machine.travel(EVENING + dt.timedelta(days=1), tick=False):
        _link, token = formlink_create(session=therapy_session, created_by=therapist)
        page = client.get(form_url(token)).content.decode()
    assert "<h1>Sobre su sesión del 2 Dic 2026</h1>" in page


def test_the_form_shows_every_item_and_nothing_clinical(client, form_link, therapist):
    link, token = form_link
    session = link.session
    session.note = "Client seemed withdrawn; discuss in supervision"
    session.save()
    response = client.get(form_url(token))
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="en">' in page
    assert item_text("bond_1", "en") in page
    assert page.count("data-item") == 6
    assert "0 of 6 answered" in page
    for hidden in (session.client.code, session.note, therapist.get_full_name()):
        assert hidden not in page
    assert "Caseload" not in page and "Log out" not in page
    # Not the clinicians' instrument name; the session (yesterday) by its date.
    assert f"<h1>About your session on {clinic_day(session)}</h1>" in page
    assert re.search(r'name="submission_id" value="[0-9a-f-]{36}"', page)
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_the_form_uses_the_clients_language(client, form_link):
    link, token = form_link
    link.session.client.language = "es"
    link.session.client.save()
    page = client.get(form_url(token)).content.decode()
    assert '<html lang="es">' in page
    assert item_text("bond_1", "es") in page
    assert "0 de 6 respondidas" in page
    assert "Enviar mis respuestas" in page
    assert "<h1>Sobre su sesión del " in page
    assert 'value="en" lang="en"' in page  # the switch back to English


def test_every_question_is_labelled_and_grouped(client, form_link):
    _link, token = form_link
    page = client.get(form_url(token)).content.decode()
    assert page.count("<fieldset") == 8  # six items, tension, how well it was handled
    assert page.count("<legend>") == 8
    assert '<label for="id_comment">' in page
    for radio_id in re.findall(r'<input type="radio"[^>]*id="([^"]+)"', page):
        assert f'for="{radio_id}"' in page
    # Without JavaScript the follow-up question is simply on the page.
    assert 'data-shown-if="tension"' in page
    assert "hidden" not in page.split('data-shown-if="tension"')[1].split(">")[0]


# --- sending -----------------------------------------------------------------------------


def test_sending_the_form_stores_the_rating_and_thanks_the_client(client, form_link):
    link, token = form_link
    submission_id = uuid.uuid4()
    response = client.post(
        form_url(token),
        form_post(submission_id, tension="yes", tension_addressed="4", comment="All good."),
    )
    assert response.status_code == 302
    assert response["Location"] == thanks_url(token)
    rating = Rating.objects.get()
    assert rating.submission_id == submission_id
    assert rating.session == link.session
    assert (rating.tension, rating.tension_addressed, rating.comment) == (True, 4, "All good.")
    assert rating.language == "en"
    assert dict(rating.answers.values_list("item", "value"))["goal_2"] == 3.0

    thanks = client.get(thanks_url(token))
    assert thanks.status_code == 200
    assert "Thank you" in thanks.content.decode()


def test_the_used_link_then_answers_410(client, form_link):
    _link, token = form_link
    client.post(form_url(token), form_post(uuid.uuid4()))
    response = client.get(form_url(token))
    assert response.status_code == 410
    assert "This form has already been sent" in response.content.decode()


def test_a_double_submit_stores_one_rating_and_shows_thanks(client, form_link):
    _link, token = form_link
    data = form_post(uuid.uuid4())
    first = client.post(form_url(token), data)
    again = client.post(form_url(token), data)  # double tap, refresh, back button, second tab
    assert first.status_code == again.status_code == 302
    assert again["Location"] == thanks_url(token)
    assert Rating.objects.count() == 1


def test_a_different_submission_on_a_used_link_is_refused(client, form_link):
    _link, token = form_link
    client.post(form_url(token), form_post(uuid.uuid4()))
    response = client.post(form_url(token), form_post(uuid.uuid4()))
    assert response.status_code == 410
    assert Rating.objects.count() == 1


def test_the_follow_up_is_ignored_after_no(client, form_link):
    _link, token = form_link
    response = client.post(
        form_url(token), form_post(uuid.uuid4(), tension="no", tension_addressed="not a number")
    )
    assert response.status_code == 302
    rating = Rating.objects.get()
    assert (rating.tension, rating.tension_addressed) == (False, None)


def test_thanks_before_sending_goes_back_to_the_form(client, form_link):
    _link, token = form_link
    response = client.get(thanks_url(token))
    assert response.status_code == 302
    assert response["Location"] == form_url(token)


# --- keeping answers ---------------------------------------------------------------------


def test_a_missing_answer_keeps_every_other_answer(client, form_link):
    _link, token = form_link
    submission_id = uuid.uuid4()
    answers = {"bond_1": "5", "goal_1": "2", "task_1": "4", "bond_2": "1", "goal_2": "3"}
    response = client.post(
        form_url(token),
        form_post(submission_id, answers, tension="yes", tension_addressed="2", comment="Hm."),
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Please check your answers" in page
    assert "Please choose an answer." in page
    for key, value in answers.items():
        assert checked(page, key) == {value}
    assert checked(page, "task_2") == set()
    assert checked(page, "tension") == {"yes"}
    assert checked(page, "tension_addressed") == {"2"}
    assert "Hm.</textarea>" in page
    assert f'value="{submission_id}"' in page
    assert "5 of 6 answered" in page
    assert 'aria-describedby="id_task_2_error"' in page
    assert not Rating.objects.exists()
    assert not FormLink.objects.get().used_at


def test_errors_speak_the_forms_language(client, form_link):
    _link, token = form_link
    data = {**form_post(uuid.uuid4(), {"bond_1": "5"}), "form_language": "es"}
    page = client.post(form_url(token), data).content.decode()
    assert "Revise sus respuestas, por favor" in page
    assert "Elija una respuesta, por favor." in page
    assert checked(page, "bond_1") == {"5"}


def test_a_too_long_comment_is_refused_with_the_text_kept(client, form_link):
    _link, token = form_link
    comment = "x" * 1001
    response = client.post(form_url(token), form_post(uuid.uuid4(), comment=comment))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Please keep this to 1000 characters or fewer (it has 1001)." in page
    assert comment in page


def test_an_out_of_range_answer_is_refused(client, form_link):
    _link, token = form_link
    response = client.post(form_url(token), form_post(uuid.uuid4(), bond_1="7"))
    assert response.status_code == 400
    assert "Please choose one of the answers shown." in response.content.decode()
    assert not Rating.objects.exists()


def test_a_broken_submission_id_still_saves_once(client, form_link):
    _link, token = form_link
    response = client.post(form_url(token), form_post("not-a-uuid"))
    assert response.status_code == 302
    assert Rating.objects.count() == 1


# --- switching language ------------------------------------------------------------------


def test_switching_language_keeps_the_answers_and_saves_nothing(client, form_link):
    _link, token = form_link
    submission_id = uuid.uuid4()
    answers = {"bond_1": "4", "goal_1": "2"}
    response = client.post(
        form_url(token), form_post(submission_id, answers, comment="Hola", language="es")
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="es">' in page
    assert item_text("bond_1", "es") in page
    assert checked(page, "bond_1") == {"4"}
    assert checked(page, "goal_1") == {"2"}
    assert "Hola</textarea>" in page
    assert f'value="{submission_id}"' in page
    assert 'name="form_language" value="es"' in page
    assert "2 de 6 respondidas" in page
    assert "Por favor" not in page  # no errors while switching
    assert not Rating.objects.exists()

    # Sending from the Spanish form stores a Spanish rating.
    client.post(form_url(token), {**form_post(submission_id), "form_language": "es"})
    assert Rating.objects.get().language == "es"


def test_the_thanks_page_speaks_the_language_the_form_was_sent_in(client, form_link):
    _link, token = form_link
    client.post(form_url(token), {**form_post(uuid.uuid4()), "form_language": "es"})
    page = client.get(thanks_url(token)).content.decode()
    assert '<html lang="es">' in page
    assert "Gracias" in page


# --- refusing ----------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["nope", "A" * 43, "A" * 44, "%00" * 10])
def test_unknown_or_malformed_tokens_answer_404(client, form_link, token):
    response = client.get(f"/f/{token}/")
    assert response.status_code == 404
    assert "Form not found" in response.content.decode()


def test_a_revoked_link_answers_410(client, form_link, therapist):
    from sessions.formlinks import formlink_create

    link, token = form_link
    formlink_create(session=link.session, created_by=therapist)
    response = client.get(form_url(token))
    assert response.status_code == 410
    assert "This link has been replaced" in response.content.decode()


def test_an_expired_link_answers_410_in_the_clients_language(client, form_link):
    import time_machine

    link, token = form_link
    link.session.client.language = "es"
    link.session.client.save()
    with time_machine.travel(link.expires_at):
        response = client.get(form_url(token))
    assert response.status_code == 410
    assert "Este enlace ha caducado" in response.content.decode()


def test_the_form_endpoints_are_rate_limited_per_link(client, form_link, therapist, settings):
    settings.ALLIANCE_FORM_RATE_LIMIT = 3
    link, token = form_link
    statuses = [client.get(form_url(token)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get(form_url(token))
    assert response.status_code == 429
    assert response["Retry-After"] == str(settings.ALLIANCE_FORM_RATE_WINDOW)
    assert "Please wait a moment" in response.content.decode()
    # The link is limited from any address; another link from this address is not.
    assert client.get(form_url(token), REMOTE_ADDR="10.0.0.9").status_code == 429
    session = TherapySessionFactory(client=link.session.client, number=2)
    _other, other_token = formlink_create(session=session, created_by=therapist)
    assert client.get(form_url(other_token)).status_code == 200


def test_a_clinics_wifi_is_one_address_for_many_clients(therapist, instruments, settings):
    """The NAT scenario, with the production defaults: 60 form loads from one address across
    20 links within the window all succeed; 60 on one link are limited."""
    assert settings.ALLIANCE_FORM_RATE_LIMIT == 30
    assert settings.ALLIANCE_FORM_ADDRESS_RATE_LIMIT >= 60
    tokens = []
    for number in range(1, 21):
        session = TherapySessionFactory(client__primary_therapist=therapist, number=number)
        tokens.append(formlink_create(session=session, created_by=therapist)[1])
    wifi = {"REMOTE_ADDR": "192.0.2.10"}
    # The clock stands still at the start of a window: the 120 requests fall in one window
    # however long they take (a window boundary would reset the counts).
    window = settings.ALLIANCE_FORM_RATE_WINDOW
    start = dt.datetime.fromtimestamp(timezone.now().timestamp() // window * window + 1, tz=dt.UTC)
    with time_machine.travel(start, tick=False):
        shared = [BrowserClient().get(form_url(tokens[n % 20]), **wifi) for n in range(60)]
        one_link = [BrowserClient().get(form_url(tokens[0]), **wifi) for _ in range(60)]
    assert [r.status_code for r in shared] == [200] * 60
    # tokens[0] was opened 3 times above: 27 more pass, the rest are refused.
    assert [r.status_code for r in one_link] == [200] * 27 + [429] * 33


def test_an_address_has_a_limit_of_its_own(client, form_link, therapist, settings):
    settings.ALLIANCE_FORM_ADDRESS_RATE_LIMIT = 4
    tokens = [form_link[1]]
    for number in range(2, 6):
        session = TherapySessionFactory(client=form_link[0].session.client, number=number)
        tokens.append(formlink_create(session=session, created_by=therapist)[1])
    statuses = [client.get(form_url(token)).status_code for token in tokens]
    assert statuses == [200, 200, 200, 200, 429]
    assert client.get(form_url(tokens[4]), REMOTE_ADDR="10.0.0.9").status_code == 200


def test_behind_a_proxy_the_forwarded_address_counts(client, form_link, settings):
    settings.ALLIANCE_FORM_ADDRESS_RATE_LIMIT = 1
    settings.ALLIANCE_TRUSTED_PROXIES = 1
    _link, token = form_link
    first = client.get(form_url(token), HTTP_X_FORWARDED_FOR="203.0.113.5")
    second = client.get(form_url(token), HTTP_X_FORWARDED_FOR="203.0.113.6")
    # A client cannot reset its count by writing its own X-Forwarded-For entries.
    third = client.get(form_url(token), HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5")
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]


# --- logging -----------------------------------------------------------------------------


def test_a_404_for_an_unknown_token_logs_no_token(client, form_link, caplog):
    token = "Zz9" * 14 + "Q"  # well-formed, unknown
    with caplog.at_level(logging.INFO):
        response = client.get(form_url(token))
    assert response.status_code == 404
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records, "Django logs every 4xx response on django.request"
    assert all(token not in record.getMessage() for record in caplog.records)
    assert "/f/[redacted]/" in records[0].getMessage()


def test_set_password_and_setup_tokens_are_redacted_too():
    from sessions.log_redaction import redact_form_tokens

    assert redact_form_tokens("GET /set-password/MQ/dj8frd-ba26b84/ 200") == (
        "GET /set-password/MQ/[redacted]/ 200"
    )
    assert redact_form_tokens("GET /account/two-factor/enrol/MQ/abc-123/ 302") == (
        "GET /account/two-factor/enrol/MQ/[redacted]/ 302"
    )


def test_the_development_server_log_redacts_tokens(caplog):
    token = "abcDEF123_-" * 3 + "abcdefghij"
    server_logger = logging.getLogger("django.server")
    # django.server does not propagate to the root logger that caplog listens on.
    server_logger.addHandler(caplog.handler)
    try:
        server_logger.warning('"%s" %s %s', f"GET /f/{token}/thanks/ HTTP/1.1", "410", "1234")
    finally:
        server_logger.removeHandler(caplog.handler)
    assert any(isinstance(f, RedactFormTokens) for f in server_logger.filters)
    assert caplog.records
    message = caplog.records[-1].getMessage()
    assert token not in message
    assert message == '"GET /f/[redacted]/thanks/ HTTP/1.1" 410 1234'
