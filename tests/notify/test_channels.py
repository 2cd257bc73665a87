"""The channel registry: reminders are sent through whichever channel serves the client's
contact kind, so a new channel (SMS) plugs in without touching the callers."""

import pytest

from alliance.models import ClientContact
from alliance.notify import channels, reminders
from sessions.formlinks import formlink_create
from sessions.models import FormLink
from tests.notify.conftest import ADDRESS, at

pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self, answer: bool = True):
        self.sent = []
        self.answer = answer

    def send(self, *, address, message):
        self.sent.append((address, message))
        return self.answer


def test_the_reminder_goes_through_the_channel_of_the_contacts_kind(
    monkeypatch, contact, therapy_session, therapist, clock
):
    recorder = Recorder()
    monkeypatch.setitem(channels.CHANNELS, ClientContact.Kind.EMAIL, recorder)
    formlink_create(session=therapy_session, created_by=therapist, channel=FormLink.Channel.EMAIL)
    clock.move_to(at(24))
    assert reminders.formlink_reminders_send() == 1
    [(address, message)] = recorder.sent
    assert address == ADDRESS
    assert (message.template, message.language) == ("formlink_reminder", "en")
    assert message.stop_url.startswith("http") and "/reminders/stop/" in message.stop_url
    assert set(message.context) == {"clinic", "url", "expires"}  # nothing clinical to render


def test_a_kind_no_channel_serves_sends_nothing(monkeypatch, contact):
    monkeypatch.delitem(channels.CHANNELS, ClientContact.Kind.EMAIL)
    message = channels.ClientMessage(template="formlink_reminder", language="en", what="test")
    assert channels.client_notify(contact=contact, message=message) is False
