"""The client's "stop reminders" link: a GET asks and changes nothing (mail scanners open
links), the button's POST and a mail client's one-click POST (RFC 8058) stop them, recorded
once and audited; the therapist sees it; a forged or mangled token is a clear 400."""

import pytest
import time_machine
from django.conf import settings
from django.core import signing
from django.urls import reverse

from alliance.clients.contacts import client_contact_record, client_contact_withdraw
from alliance.models import AccessEvent, ClientContact
from alliance.notify import reminders
from sessions.formlinks import formlink_create
from sessions.models import FormLink
from tests.notify.conftest import at

pytestmark = pytest.mark.django_db


def stop_path(contact: ClientContact) -> str:
    return reverse("reminders_stop", args=[reminders.stop_token(contact)])


def test_a_get_asks_with_one_button_and_changes_nothing(client, contact):
    response = client.get(stop_path(contact))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Stop reminders?" in page and "Riverside Counselling" in page
    assert page.count("<form") == 1 and 'type="submit"' in page
    assert contact.client.code not in page  # nothing about the client
    assert response["Referrer-Policy"] == "no-referrer"
    contact.refresh_from_db()
    assert contact.reminders_stopped_at is None


def test_the_button_stops_them_once(client, contact, clock):
    response = client.post(stop_path(contact))
    assert response.status_code == 200
    assert "Reminders stopped" in response.content.decode()
    contact.refresh_from_db()
    assert contact.reminders_stopped_at == at(0)
    clock.move_to(at(5))
    client.post(stop_path(contact))
    contact.refresh_from_db()
    assert contact.reminders_stopped_at == at(0)  # the first time is kept
    event = AccessEvent.objects.filter(url_name="reminders_stop").first()
    assert (event.action, event.client_id, event.user, event.roles) == (
        "update",
        contact.client_id,
        None,
        "client-link",
    )


def test_a_mail_clients_one_click_post_stops_them(client, contact):
    response = client.post(
        stop_path(contact),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert ClientContact.objects.get().reminders_stopped_at is not None


def test_after_stopping_no_reminder_goes(client, contact, therapy_session, therapist, clock):
    formlink_create(session=therapy_session, created_by=therapist, channel=FormLink.Channel.EMAIL)
    client.post(stop_path(contact))
    clock.move_to(at(24))
    assert reminders.formlink_reminders_send() == 0


def test_the_page_is_in_the_clients_language(client, contact, client_of_therapist):
    client_of_therapist.language = "es"
    client_of_therapist.save()
    response = client.get(stop_path(contact))
    assert response["Content-Language"] == "es"
    assert "¿Dejar de recibir recordatorios?" in response.content.decode()


@pytest.mark.parametrize(
    "token",
    [
        "MQ:forged:signature",
        "not-even-signed",
        signing.dumps(1),  # signed, but not a stop token (another salt)
        signing.dumps("1", salt=reminders.STOP_SALT),  # not a contact and a time
        signing.dumps([1, "not a time"], salt=reminders.STOP_SALT),
        signing.dumps([1, "2026-03-02T09:00:00"], salt=reminders.STOP_SALT),  # naive
    ],
)
def test_a_forged_or_mangled_token_is_a_clear_400(client, contact, token):
    for method in (client.get, client.post):
        response = method(reverse("reminders_stop", args=[token]))
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()
    assert ClientContact.objects.get().reminders_stopped_at is None


def test_a_link_to_an_address_withdrawn_is_no_longer_valid(client, contact, therapist):
    path = stop_path(contact)
    client_contact_withdraw(client=contact.client, withdrawn_by=therapist)
    response = client.get(path)
    assert response.status_code == 410
    assert "This link is not valid" in response.content.decode()


def test_a_link_sent_to_an_old_address_stops_nothing_for_the_new_one(
    client, contact, therapist, clock, therapy_session
):
    old = stop_path(contact)
    clock.move_to(at(2))
    new_contact = client_contact_record(
        client=contact.client, address="new.address@mail.example", recorded_by=therapist
    )
    assert new_contact.pk == contact.pk  # the same row, consent recorded again
    for method in (client.get, client.post):
        response = method(old)
        assert response.status_code == 410
        page = response.content.decode()
        assert "This link is not valid" in page and "older message" in page
    new_contact.refresh_from_db()
    assert new_contact.reminders_stopped_at is None
    assert not AccessEvent.objects.filter(url_name="reminders_stop").exists()
    # The new address's own link works.
    assert client.post(stop_path(new_contact)).status_code == 200
    new_contact.refresh_from_db()
    assert new_contact.reminders_stopped_at == at(2)


def test_the_reminder_carries_the_link_of_the_address_it_goes_to(
    contact, therapy_session, therapist, clock, mailoutbox
):
    formlink_create(session=therapy_session, created_by=therapist, channel=FormLink.Channel.EMAIL)
    clock.move_to(at(24))
    assert reminders.formlink_reminders_send() == 1
    reminder = mailoutbox[-1]
    assert reminder.to == [contact.address]
    assert (
        reminder.extra_headers["List-Unsubscribe"]
        == f"<{settings.ALLIANCE_BASE_URL}{stop_path(contact)}>"
    )


def test_the_stop_page_is_rate_limited(client, contact, settings):
    settings.ALLIANCE_FORM_ADDRESS_RATE_LIMIT = 2
    with time_machine.travel(at(0), tick=False):  # inside one window of the count
        answers = [client.get(stop_path(contact)).status_code for _ in range(3)]
    assert answers == [200, 200, 429]


def test_the_therapist_sees_that_the_client_stopped(
    client, contact, therapy_session, therapist, clock
):
    formlink_create(session=therapy_session, created_by=therapist, channel=FormLink.Channel.EMAIL)
    clock.move_to(at(24))
    reminders.formlink_reminders_send()
    client.post(stop_path(contact))
    client.force_login(therapist)
    client_page = client.get(contact.client.get_absolute_url()).content.decode()
    # 24 hours after 9:00 UTC on 2 March, in the clinic's time (New York).
    assert "The client stopped reminders on 3 Mar 2026, 04:00" in client_page
    session_page = client.get(therapy_session.get_absolute_url()).content.decode()
    assert "The client stopped reminders on" in session_page
    assert "1 reminder was sent to the client" in session_page
