"""Client contact details and consent: nothing stored without the clinic's setting and the
client's consent; who recorded it and when are kept and shown; withdrawing deletes the
address; turning the setting off deletes every address; the history never keeps the address;
the session page's email form stores the address only with the consent tick."""

import io

import pandas as pd
import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.core import mail
from django.core.exceptions import ValidationError
from django.db.models import CharField, TextField
from django.urls import reverse

from alliance.clients.contacts import client_contact_record
from alliance.models import AccessEvent, ClientContact
from tests.factories import ClientFactory
from tests.notify.conftest import ADDRESS, T0, at

pytestmark = pytest.mark.django_db


def stored_anywhere(fragment: str) -> list[str]:
    """Every model text column holding the fragment (the history tables included)."""
    found = []
    for model in apps.get_models():
        texts = [f.name for f in model._meta.get_fields() if isinstance(f, CharField | TextField)]
        for name in texts:
            if model._default_manager.filter(**{f"{name}__icontains": fragment}).exists():
                found.append(f"{model.__name__}.{name}")
    return found


def contact_url(client_record) -> str:
    return reverse("client_contact", args=[client_record.pk])


# --- the client page ---------------------------------------------------------------------


def test_without_the_clinic_setting_there_is_no_contact_page(
    client, therapist, client_of_therapist
):
    client.force_login(therapist)
    assert client.get(contact_url(client_of_therapist)).status_code == 404
    response = client.post(contact_url(client_of_therapist), {"address": ADDRESS, "consent": "on"})
    assert response.status_code == 404
    assert not ClientContact.objects.exists()
    page = client.get(client_of_therapist.get_absolute_url()).content.decode()
    assert "contact-heading" not in page


def test_the_service_refuses_without_the_clinic_setting(client_of_therapist, therapist):
    with pytest.raises(ValidationError, match="does not store client contact details"):
        client_contact_record(client=client_of_therapist, address=ADDRESS, recorded_by=therapist)


def test_without_the_consent_tick_nothing_is_stored(
    client, therapist, client_of_therapist, clinic_on
):
    client.force_login(therapist)
    response = client.post(contact_url(client_of_therapist), {"address": ADDRESS})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Store the address only with the client&#x27;s consent." in page
    assert f'value="{ADDRESS}"' in page  # what was typed is kept
    assert not ClientContact.objects.exists()


def test_consent_records_who_and_when(client, therapist, client_of_therapist, clinic_on, clock):
    client.force_login(therapist)
    response = client.post(contact_url(client_of_therapist), {"address": ADDRESS, "consent": "on"})
    assert response.status_code == 302
    contact = ClientContact.objects.get()
    assert (contact.address, contact.consent_recorded_by, contact.consent_recorded_at) == (
        ADDRESS,
        therapist,
        T0,
    )
    page = client.get(client_of_therapist.get_absolute_url()).content.decode()
    assert ADDRESS in page
    assert f"consent recorded by {therapist} on 2 Mar 2026, 04:00" in page
    event = AccessEvent.objects.get(url_name="client_contact", method="POST")
    assert (event.action, event.client_id) == ("update", client_of_therapist.pk)


def test_a_new_address_records_consent_again(client, therapist, clinic_admin, contact, clock):
    clock.move_to(at(5))
    client.force_login(clinic_admin)
    client.post(contact_url(contact.client), {"address": "new@mail.example", "consent": "on"})
    contact.refresh_from_db()
    assert (contact.address, contact.consent_recorded_by, contact.consent_recorded_at) == (
        "new@mail.example",
        clinic_admin,
        at(5),
    )


def test_a_client_who_stopped_stays_stopped_unless_they_asked_again(client, therapist, contact):
    ClientContact.objects.filter(pk=contact.pk).update(reminders_stopped_at=at(1))
    client.force_login(therapist)
    page = client.get(contact_url(contact.client)).content.decode()
    assert "The client asked to get reminders again" in page
    client.post(contact_url(contact.client), {"address": ADDRESS, "consent": "on"})
    assert ClientContact.objects.get().reminders_stopped_at == at(1)
    client.post(
        contact_url(contact.client),
        {"address": ADDRESS, "consent": "on", "resume_reminders": "on"},
    )
    assert ClientContact.objects.get().reminders_stopped_at is None


def test_withdrawing_deletes_the_address_and_the_history_never_kept_it(client, therapist, contact):
    client.force_login(therapist)
    client.post(contact_url(contact.client), {"address": ADDRESS, "consent": "on"})
    response = client.post(reverse("client_contact_withdraw", args=[contact.client_id]))
    assert response.status_code == 302
    assert not ClientContact.objects.exists()
    assert stored_anywhere("r0001@mail") == []
    # Who recorded and withdrew consent, and when, stay in the history.
    history = ClientContact.history.filter(client_id=contact.client_id).order_by("history_id")
    assert [h.history_type for h in history][-1] == "-"
    assert history.last().history_user == therapist
    event = AccessEvent.objects.get(url_name="client_contact_withdraw")
    assert (event.action, event.client_id) == ("delete", contact.client_id)


def test_a_supervisor_sees_reminders_are_on_but_not_the_address(client, supervisor, contact):
    client.force_login(supervisor)
    page = client.get(contact.client.get_absolute_url()).content.decode()
    assert "reminded to the client's stored address" in page
    assert ADDRESS not in page
    assert client.get(contact_url(contact.client)).status_code == 404


def test_turning_the_setting_off_deletes_every_address(client, clinic_admin, contact, clinic_on):
    other = ClientContact.objects.create(  # a second client's address: a second event
        client=ClientFactory(clinic=clinic_on), address="b@mail.example", consent_recorded_at=T0
    )
    client.force_login(clinic_admin)
    response = client.post(
        reverse("clinic_security"), {"retention_days": 2557, "kiosk_session_days": 2}
    )
    assert response.status_code == 302
    clinic_on.refresh_from_db()
    assert clinic_on.client_contact_details is False
    assert not ClientContact.objects.exists()
    assert stored_anywhere("r0001@mail") == []
    # One event per client whose address went, by the admin who turned it off.
    events = AccessEvent.objects.filter(object_type="client_contact").order_by("client_id")
    assert [(e.action, e.user, e.clinic_id) for e in events] == [
        (AccessEvent.Action.DELETE, clinic_admin, clinic_on.pk)
    ] * 2
    assert {e.client_id for e in events} == {contact.client_id, other.client_id}


def test_a_clinic_admin_turns_the_setting_on(client, clinic_admin, clinic):
    client.force_login(clinic_admin)
    page = client.get(reverse("clinic_security")).content.decode()
    assert "Client contact details" in page
    client.post(
        reverse("clinic_security"),
        {"retention_days": 2557, "kiosk_session_days": 2, "client_contact_details": "on"},
    )
    clinic.refresh_from_db()
    assert clinic.client_contact_details is True


# --- the session page's email form -------------------------------------------------------


def send(browser, session, **data):
    return browser.post(reverse("formlink_email", args=[session.pk]), {"address": ADDRESS, **data})


def test_the_consent_tick_is_offered_only_with_the_setting(client, therapist, therapy_session):
    client.force_login(therapist)
    page = client.get(therapy_session.get_absolute_url()).content.decode()
    assert 'name="store"' not in page
    # Ticked anyway (a crafted POST): the field does not exist, nothing is stored.
    assert send(client, therapy_session, store="on").status_code == 302
    assert len(mail.outbox) == 1
    assert not ClientContact.objects.exists()


def test_sending_without_the_tick_stores_nothing(client, therapist, therapy_session, clinic_on):
    client.force_login(therapist)
    assert 'name="store"' in client.get(therapy_session.get_absolute_url()).content.decode()
    assert send(client, therapy_session).status_code == 302
    assert stored_anywhere("r0001@mail") == []


def test_sending_with_the_tick_stores_it_with_consent(
    client, therapist, therapy_session, clinic_on, clock
):
    client.force_login(therapist)
    response = send(client, therapy_session, store="on")
    assert response.status_code == 302
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert "stored with the client's consent" in said[0]
    contact = ClientContact.objects.get()
    assert (contact.address, contact.consent_recorded_by, contact.consent_recorded_at) == (
        ADDRESS,
        therapist,
        T0,
    )
    # Next time the stored address is offered, with who recorded the consent.
    page = client.get(therapy_session.get_absolute_url()).content.decode()
    assert f'value="{ADDRESS}"' in page
    assert f"consent recorded by {therapist}" in page


def test_a_failed_send_stores_nothing(
    client, therapist, therapy_session, clinic_on, smtp_unreachable
):
    client.force_login(therapist)
    assert send(client, therapy_session, store="on").status_code == 400
    assert not ClientContact.objects.exists()


def test_the_clients_record_holds_the_stored_address(client, therapist, contact):
    """Right of access: the record download has everything stored about the client."""
    client.force_login(therapist)
    response = client.get(reverse("client_export_record", args=[contact.client_id]))
    about = pd.read_excel(io.BytesIO(response.content), sheet_name="About")
    rows = dict(zip(about.iloc[:, 0], about["Value"], strict=True))
    assert rows["Contact (Email)"] == ADDRESS
    assert rows["Consent recorded"] == f"2026-03-02 04:00 by {therapist}"
