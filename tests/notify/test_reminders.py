"""Form-link reminders (alliance.notify.reminders), with the clock held: none before 24
hours, one at 24, a second at 48, no third, none once the link is used, revoked, expired or
about to expire, none after the client stopped them, none without consent or with the clinic's
setting off, never a tablet hand-over; a second run sends nothing twice; the reminder's new
token opens the same one-time link and the first one keeps working."""

import logging
import re
import uuid

import pytest
from django.core import mail
from django.utils import timezone

from alliance.models import AccessEvent, ClientContact
from alliance.notify import reminders, tasks
from sessions.formlinks import (
    FormLinkExpired,
    FormLinkUsed,
    formlink_create,
    formlink_resolve,
    formlink_revoke_unused,
)
from sessions.models import FormLink, FormLinkReminder
from tests.notify.conftest import ADDRESS, at
from tests.sessions.conftest import form_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(therapy_session, therapist, contact):
    return formlink_create(
        session=therapy_session, created_by=therapist, channel=FormLink.Channel.EMAIL
    )


def run(clock, hours: float) -> int:
    clock.move_to(at(hours))
    return reminders.formlink_reminders_send()


def token_in(message) -> str:
    [url] = re.findall(r"https?://\S+/f/(\S+)/", message.body)
    return url


def test_one_at_24_hours_a_second_at_48_and_no_third(link, clock):
    assert [run(clock, h) for h in (1, 23.9)] == [0, 0]
    assert run(clock, 24) == 1
    assert [run(clock, h) for h in (24.25, 30, 47.9)] == [0, 0, 0]
    assert run(clock, 48) == 1
    assert [run(clock, h) for h in (60, 70)] == [0, 0]
    assert len(mail.outbox) == 2
    assert {tuple(m.to) for m in mail.outbox} == {(ADDRESS,)}
    link = FormLink.objects.get()
    assert (link.reminders_sent, link.last_reminded_at) == (2, at(48))


def test_at_most_as_many_as_the_setting_says(link, clock, settings):
    settings.ALLIANCE_REMINDER_MAX = 1
    assert [run(clock, h) for h in (24, 48)] == [1, 0]


def test_never_after_the_link_expires_nor_just_before(link, clock, settings):
    settings.ALLIANCE_REMINDER_MAX = 10
    settings.ALLIANCE_REMINDER_AFTER_HOURS = 35
    # At 70 h (two hours left) the second would go; at 71 h an hour is left: not worth it.
    assert [run(clock, h) for h in (35, 71, 72, 105)] == [1, 0, 0, 0]


def test_none_once_the_link_is_used(link, clock):
    assert run(clock, 24) == 1
    FormLink.objects.filter(pk=link[0].pk).update(used_at=timezone.now())
    assert run(clock, 48) == 0


def test_none_once_the_link_is_revoked(link, clock):
    formlink_revoke_unused(link=link[0])
    assert run(clock, 24) == 0


def test_none_after_the_client_stopped_them(link, clock, contact):
    ClientContact.objects.filter(pk=contact.pk).update(reminders_stopped_at=at(2))
    assert run(clock, 24) == 0


def test_none_without_a_stored_address(link, clock, contact):
    contact.delete()
    assert run(clock, 24) == 0


def test_none_when_the_clinic_turned_contact_details_off(link, clock, clinic_on):
    clinic_on.client_contact_details = False
    clinic_on.save()
    assert run(clock, 24) == 0 and mail.outbox == []


def test_a_tablet_hand_over_is_never_reminded(therapy_session, therapist, contact, clock):
    formlink_create(session=therapy_session, created_by=therapist, channel=FormLink.Channel.KIOSK)
    assert run(clock, 24) == 0


@pytest.mark.parametrize("channel", [FormLink.Channel.LINK, FormLink.Channel.QR])
def test_a_link_or_qr_code_handed_out_is_reminded(
    therapy_session, therapist, contact, clock, channel
):
    formlink_create(session=therapy_session, created_by=therapist, channel=channel)
    assert run(clock, 24) == 1


def test_none_for_a_discharged_client(link, clock, client_of_therapist):
    client_of_therapist.status = "discharged"
    client_of_therapist.discharged_at = at(1)
    client_of_therapist.save()
    assert run(clock, 24) == 0


def test_a_second_run_sends_nothing_twice(link, clock):
    clock.move_to(at(24))
    assert tasks.formlink_reminders.delay().get() == 1
    assert tasks.formlink_reminders.delay().get() == 0
    assert len(mail.outbox) == 1


def test_a_run_while_another_is_sending_finds_the_reminder_claimed(link, clock, monkeypatch):
    """The claim is made before the message goes: a run in the middle sends nothing."""
    send = reminders.client_notify
    during = []

    def slow_send(**kwargs):
        during.append(reminders.formlink_remind(link_id=link[0].pk))
        return send(**kwargs)

    monkeypatch.setattr(reminders, "client_notify", slow_send)
    assert run(clock, 24) == 1
    assert during == [False]
    assert len(mail.outbox) == 1
    assert FormLink.objects.get().reminders_sent == 1


def test_a_stale_claim_loses(link, clock):
    """Two runs that read the same count: only one conditional UPDATE wins."""
    clock.move_to(at(24))
    stale = FormLink.objects.get()
    assert reminders.formlink_remind(link_id=stale.pk)
    # What the slower run would claim with: the count it read before the first sent.
    claimed = (
        FormLink.objects.live()
        .filter(pk=stale.pk, reminders_sent=stale.reminders_sent)
        .update(reminders_sent=stale.reminders_sent + 1)
    )
    assert claimed == 0


def test_a_failed_send_is_tried_again_a_day_later_not_every_run(
    link, clock, smtp_unreachable, settings, caplog
):
    assert run(clock, 24) == 0
    link = FormLink.objects.get()
    assert (link.reminders_sent, FormLinkReminder.objects.count()) == (0, 0)
    assert run(clock, 25) == 0  # not tried again at once
    assert ADDRESS not in caplog.text
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert run(clock, 48) == 1


def test_the_reminders_token_opens_the_same_link_and_the_first_still_works(link, clock):
    link, first_token = link
    run(clock, 24)
    reminder_token = token_in(mail.outbox[0])
    assert reminder_token != first_token
    assert formlink_resolve(reminder_token) == link
    assert formlink_resolve(first_token) == link
    assert FormLinkReminder.objects.get().token_hash != link.token_hash


def test_a_link_used_through_the_reminder_is_used_for_every_token(client, link, clock, instruments):
    link, first_token = link
    run(clock, 24)
    reminder_token = token_in(mail.outbox[0])
    response = client.post(f"/f/{reminder_token}/", form_post(uuid.uuid4()))
    assert response.status_code == 302
    with pytest.raises(FormLinkUsed):
        formlink_resolve(first_token)
    with pytest.raises(FormLinkUsed):
        formlink_resolve(reminder_token)
    # The audit log found the link the reminder's token opened.
    event = AccessEvent.objects.filter(url_name="client_form", method="POST").get()
    assert (event.object_id, event.client_id) == (link.pk, link.session.client_id)


def test_the_reminders_link_ends_when_the_first_does(link, clock):
    link, _token = link
    run(clock, 24)
    reminder_token = token_in(mail.outbox[0])
    clock.move_to(at(72))
    with pytest.raises(FormLinkExpired):
        formlink_resolve(reminder_token)


def test_the_message_says_no_more_than_the_clinic_a_link_and_the_reason(
    link, clock, therapist, client_of_therapist, settings
):
    settings.ALLIANCE_BASE_URL = "https://alliance.riverside.example"
    client_of_therapist.display_name = "J.D."
    client_of_therapist.save()
    run(clock, 24)
    [message] = mail.outbox
    assert message.subject == "A reminder from Riverside Counselling: a one-minute form"
    assert "Riverside Counselling" in message.body
    assert "https://alliance.riverside.example/f/" in message.body
    for said in (client_of_therapist.code, "J.D.", therapist.last_name, therapist.first_name):
        assert said not in message.body and said not in message.subject
    stop = message.extra_headers["List-Unsubscribe"]
    assert stop.startswith("<https://alliance.riverside.example/reminders/stop/")
    assert stop.strip("<>") in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # 72 h after 9:00 UTC, in the clinic's time (New York): 5 March, 04:00.
    assert "until 5 March 2026, 04:00" in message.body


def test_the_message_is_in_the_clients_language(link, clock, client_of_therapist):
    client_of_therapist.language = "es"
    client_of_therapist.save()
    run(clock, 24)
    [message] = mail.outbox
    assert message.subject == "Un recordatorio de Riverside Counselling: un formulario de un minuto"
    assert "marzo" in message.body


def test_a_sent_reminder_is_audited_and_logged_without_the_address(link, clock, caplog):
    caplog.set_level(logging.INFO, logger="alliance.notify.reminders")
    run(clock, 24)
    event = AccessEvent.objects.get(object_type="form_link_reminder")
    assert (event.object_id, event.client_id, event.roles) == (
        link[0].pk,
        link[0].session.client_id,
        "system",
    )
    assert "Form link reminder 1 sent" in caplog.text
    assert ADDRESS not in caplog.text


@pytest.mark.parametrize("name", ["ALLIANCE_REMINDER_AFTER_HOURS", "ALLIANCE_REMINDER_MAX"])
def test_the_reminder_settings_are_documented_where_the_others_are(name):
    from pathlib import Path

    from django.conf import settings as django_settings

    root = Path(django_settings.BASE_DIR)
    assert f"\n{name}=" in (root / ".env.example").read_text()
    assert f"`{name}`" in (root / "README.md").read_text()
