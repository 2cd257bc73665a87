"""The client form link by email, from the session page: sent in the client's language with
the clinic's name and the link only, the address stored nowhere, a mistyped address kept
with its error, a failed send said and its link revoked, another therapist's session 404."""

import re

import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.core import mail
from django.db.models import CharField, TextField
from django.urls import reverse

from sessions.formlinks import formlink_resolve
from sessions.models import FormLink

pytestmark = pytest.mark.django_db

ADDRESS = "client.r0001@mail.example"


def send(browser, session, address=ADDRESS):
    return browser.post(reverse("formlink_email", args=[session.pk]), {"address": address})


def test_the_link_goes_to_the_address_typed(client, therapist, therapy_session, settings):
    settings.ALLIANCE_BASE_URL = "https://alliance.riverside.example"
    client.force_login(therapist)
    response = send(client, therapy_session)
    assert response.status_code == 302
    assert response["Location"] == therapy_session.get_absolute_url()
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert said == [f"The form link went to {ADDRESS}. It works once."]
    [message] = mail.outbox
    assert message.to == [ADDRESS]
    assert message.subject == "A one-minute form from Riverside Counselling"
    [url] = re.findall(r"https?://\S+", message.body)
    assert url.startswith("https://alliance.riverside.example/f/")
    link = formlink_resolve(url.rstrip("/").rsplit("/", 1)[-1])
    assert (link.session, link.channel) == (therapy_session, FormLink.Channel.EMAIL)
    # No clinical or identifying content: not the client's code, not the therapist's name.
    assert therapy_session.client.code not in message.body
    assert therapist.last_name not in message.body


def test_the_address_is_stored_nowhere(client, therapist, therapy_session):
    client.force_login(therapist)
    send(client, therapy_session)
    for model in apps.get_models():
        texts = [f.name for f in model._meta.get_fields() if isinstance(f, CharField | TextField)]
        for name in texts:
            found = model._default_manager.filter(**{f"{name}__icontains": "r0001@mail"})
            assert not found.exists(), f"{model.__name__}.{name} keeps the address"


def test_the_message_is_in_the_clients_language(client, therapist, therapy_session):
    therapy_session.client.language = "es"
    therapy_session.client.save()
    client.force_login(therapist)
    send(client, therapy_session)
    [message] = mail.outbox
    assert message.subject == "Un formulario de un minuto de Riverside Counselling"


def test_a_mistyped_address_comes_back_with_what_was_typed(client, therapist, therapy_session):
    client.force_login(therapist)
    response = send(client, therapy_session, "client at mail")
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert 'value="client at mail"' in response.content.decode()
    assert mail.outbox == [] and not FormLink.objects.exists()


def test_a_failed_send_is_said_and_its_link_revoked(
    client, therapist, therapy_session, smtp_unreachable, caplog
):
    client.force_login(therapist)
    response = send(client, therapy_session)
    assert response.status_code == 400
    assert "The email could not be sent." in response.content.decode()
    assert f'value="{ADDRESS}"' in response.content.decode()
    assert not FormLink.objects.live().exists()
    # Logged without the address (a mail server's refusal would quote it).
    assert "Email not sent (form link" in caplog.text
    assert "r0001@mail" not in caplog.text


def test_a_refusal_quoting_the_address_is_logged_without_it(
    client, therapist, therapy_session, monkeypatch, caplog
):
    import smtplib

    def refuse(*args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({ADDRESS: (550, b"no such user")})

    monkeypatch.setattr("alliance.notify.email.EmailMessage.send", refuse)
    client.force_login(therapist)
    assert send(client, therapy_session).status_code == 400
    assert "SMTPRecipientsRefused" in caplog.text
    assert "r0001@mail" not in caplog.text


def test_a_subject_is_one_line_whatever_the_clinics_name(client, therapist, therapy_session):
    clinic = therapy_session.client.clinic
    clinic.name = "Riverside\nCounselling"
    clinic.save()
    client.force_login(therapist)
    assert send(client, therapy_session).status_code == 302
    [message] = mail.outbox
    assert message.subject == "A one-minute form from Riverside Counselling"


def test_another_therapists_session_is_not_found(client, other_therapist, therapy_session):
    client.force_login(other_therapist)
    assert send(client, therapy_session).status_code == 404
    assert mail.outbox == []


def test_a_therapist_may_send_so_many_an_hour(client, therapist, therapy_session, settings):
    settings.ALLIANCE_FORM_EMAIL_LIMIT = 2
    client.force_login(therapist)
    answers = [send(client, therapy_session) for _ in range(3)]
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert "sent many form links by email this hour" in answers[2].content.decode()
    assert f'value="{ADDRESS}"' in answers[2].content.decode()
    assert len(mail.outbox) == 2
