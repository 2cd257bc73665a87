"""A client's contact address, stored with their consent: read, record, withdraw, stop
reminders. Keyword-only, atomic.

Only while the clinic has client contact details on (Clinic.client_contact_details): with it
off nothing is stored, shown or used, and turning it off deletes every address of the clinic
(alliance.security.services.clinic_security_update). Recording consent keeps who recorded it
and when; withdrawing deletes the address. The change history (ClientContact.history) keeps
who and when, never the address.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from alliance.models import Client, ClientContact, Clinic, User


def client_contact_of(client: Client) -> ClientContact | None:
    """The client's stored address when their clinic uses client contact details, else None."""
    if not client.clinic.client_contact_details:
        return None
    return ClientContact.objects.filter(client=client).select_related("consent_recorded_by").first()


def client_contact_record(
    *,
    client: Client,
    address: str,
    recorded_by: User,
    kind: str = ClientContact.Kind.EMAIL,
    resume_reminders: bool = False,
) -> ClientContact:
    """Store the client's address with their consent, recorded now by ``recorded_by``
    (replacing an address stored before). A client who stopped reminders stays stopped
    unless ``resume_reminders`` (the client asked for them again). ValidationError when the
    clinic does not use client contact details or the address is not valid."""
    if not client.clinic.client_contact_details:
        raise ValidationError(_("Your clinic does not store client contact details."))
    address = address.strip()
    if kind == ClientContact.Kind.EMAIL:
        validate_email(address)
    with transaction.atomic():
        # One contact per client: two saves of one client's address queue here.
        Client.objects.select_for_update().filter(pk=client.pk).exists()
        contact = ClientContact.objects.filter(client=client).first() or ClientContact(
            client=client
        )
        contact.kind = kind
        contact.address = address
        contact.consent_recorded_by = recorded_by
        contact.consent_recorded_at = timezone.now()
        if resume_reminders:
            contact.reminders_stopped_at = None
        contact._history_user = recorded_by
        contact.full_clean()
        contact.save()
    return contact


def client_contact_withdraw(*, client: Client, withdrawn_by: User) -> bool:
    """Delete the client's stored address (the client withdrew consent); True if one was
    stored."""
    with transaction.atomic():
        contact = ClientContact.objects.select_for_update().filter(client=client).first()
        if contact is None:
            return False
        contact._history_user = withdrawn_by
        contact.delete()
    return True


def client_contact_stop_reminders(
    *, contact_id: int, consent_recorded_at: dt.datetime
) -> ClientContact | None:
    """The client's one-click "stop reminders" for the address stored with consent at
    ``consent_recorded_at`` (the one the link was sent to): recorded once (a second click
    keeps the first time). The contact, or None when that address is no longer stored."""
    with transaction.atomic():
        contact = (
            ClientContact.objects.select_for_update()
            .filter(pk=contact_id, consent_recorded_at=consent_recorded_at)
            .first()
        )
        if contact is not None and contact.reminders_stopped_at is None:
            contact.reminders_stopped_at = timezone.now()
            contact.save(update_fields=["reminders_stopped_at", "updated_at"])
    return contact


def clinic_contacts_delete(*, clinic: Clinic, deleted_by: User | None = None) -> list[int]:
    """Delete every stored client address of the clinic (client contact details turned off);
    the ids of the clients whose address went. Each deletion is kept in the change history
    (by ``deleted_by``), without the address."""
    clients = []
    with transaction.atomic():
        for contact in ClientContact.objects.filter(client__clinic=clinic).select_for_update():
            contact._history_user = deleted_by
            contact.delete()
            clients.append(contact.client_id)
    return clients
