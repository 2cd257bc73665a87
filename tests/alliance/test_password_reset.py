""" "Forgot your password?": a set-password link by email, through a real SMTP server
(aiosmtpd, started here), the same answer for an unknown address, the limits, the
recipient's language and a message without clinical content."""

import email
import re
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.test import Client as BrowserClient
from django.urls import reverse

from alliance.notify import tasks
from tests.conftest import free_port
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADDRESS = "sam.rivera@riverside.example"
NEW_PASSWORD = "a long new passphrase 42"


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self):
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback, and Django's SMTP backend pointed at it."""
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def person(therapist):
    therapist.email = ADDRESS
    therapist.save()
    return therapist


def ask(browser, address=ADDRESS, **extra):
    return browser.post(reverse("password_reset"), {"email": address}, **extra)


def the_link(body: str) -> str:
    return re.search(r"https?://\S+/set-password/\S+/", body).group(0)


def test_a_set_password_link_goes_out_by_smtp_and_sets_the_password(smtp_server, person, settings):
    settings.ALLIANCE_BASE_URL = "https://alliance.riverside.example"
    browser = BrowserClient()
    response = ask(browser)
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    [message] = smtp_server.messages
    assert message["To"] == ADDRESS
    assert message["Subject"] == "Choose a new Alliance password"
    body = message.get_payload(decode=True).decode()
    assert "Riverside Counselling" in body and person.username in body
    link = the_link(body)
    assert link.startswith("https://alliance.riverside.example/set-password/")

    # The link opens the set-password page (Django moves its token into the session).
    page = browser.get(link.removeprefix(settings.ALLIANCE_BASE_URL), follow=True)
    assert page.context["validlink"]
    form_url = page.redirect_chain[-1][0]
    done = browser.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == reverse("login")
    person.refresh_from_db()
    assert person.check_password(NEW_PASSWORD)
    # It works once.
    again = BrowserClient().get(link.removeprefix(settings.ALLIANCE_BASE_URL), follow=True)
    assert not again.context["validlink"]


def test_the_page_says_the_same_whether_or_not_the_address_is_known(person):
    known, unknown = ask(BrowserClient()), ask(BrowserClient(), "nobody@example.org")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert [m.to for m in mail.outbox] == [[ADDRESS]]


def test_the_message_carries_no_clinical_content(person, client_of_therapist):
    ask(BrowserClient())
    [message] = mail.outbox
    assert client_of_therapist.code not in message.body
    assert set(re.findall(r"https?://\S+", message.body)) == {the_link(message.body)}


def test_a_deactivated_person_gets_nothing_and_one_without_a_password_gets_a_link(person):
    person.is_active = False
    person.save()
    newcomer = UserFactory(username="newcomer", email="new@riverside.example")
    newcomer.set_unusable_password()
    newcomer.save()
    ask(BrowserClient())
    ask(BrowserClient(), "NEW@riverside.example")
    assert [m.to for m in mail.outbox] == [["new@riverside.example"]]


def test_the_message_is_in_the_language_of_the_person_asking(person):
    ask(BrowserClient(), HTTP_ACCEPT_LANGUAGE="es")
    [message] = mail.outbox
    assert message.subject == "Elija una nueva contraseña de Alliance"
    assert "Riverside Counselling" in message.body


def test_an_address_is_limited_and_what_was_typed_is_kept(person, settings):
    settings.ALLIANCE_PASSWORD_RESET_LIMIT = 2
    browser = BrowserClient()
    answers = [ask(browser, f"someone{n}@example.org") for n in range(3)]
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert "Too many requests" in answers[2].content.decode()
    assert 'value="someone2@example.org"' in answers[2].content.decode()


def test_an_email_address_is_limited_from_any_address(person, settings):
    settings.ALLIANCE_PASSWORD_RESET_LIMIT = 2
    answers = [ask(BrowserClient(), REMOTE_ADDR=f"198.51.100.{n}") for n in range(3)]
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert len(mail.outbox) == 2


def test_the_login_page_offers_it():
    page = BrowserClient().get(reverse("login")).content.decode()
    assert reverse("password_reset") in page


def test_a_mistyped_address_is_a_form_error(person):
    answer = ask(BrowserClient(), "sam.rivera at riverside")
    assert answer.status_code == 200
    assert "Enter a valid email address." in answer.content.decode()
    assert 'value="sam.rivera at riverside"' in answer.content.decode()
    assert mail.outbox == []


def test_the_message_is_sent_by_a_job_that_keeps_the_address_out_of_its_logs(person, monkeypatch):
    queued = []
    monkeypatch.setattr(
        tasks.password_reset_send, "apply_async", lambda **options: queued.append(options)
    )
    answer = ask(BrowserClient(), HTTP_ACCEPT_LANGUAGE="es")
    assert answer.status_code == 302
    assert mail.outbox == []  # the page answered before anything was sent
    [options] = queued
    assert options["kwargs"] == {"email": ADDRESS, "language": "es"}
    assert ADDRESS not in options["kwargsrepr"]


def test_a_mail_server_that_cannot_be_reached_changes_nothing_on_the_page(person, smtp_unreachable):
    assert ask(BrowserClient()).status_code == 302


def test_a_queue_that_cannot_be_reached_changes_nothing_on_the_page(person, monkeypatch, caplog):
    def unreachable(**options):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(tasks.password_reset_send, "apply_async", unreachable)
    known, unknown = ask(BrowserClient()), ask(BrowserClient(), "nobody@example.org")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert "Password reset not queued: ConnectionRefusedError" in caplog.text
    assert ADDRESS not in caplog.text
