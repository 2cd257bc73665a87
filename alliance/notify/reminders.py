"""Reminders of unused client form links, and the client's one-click way to stop them.

A live form link (not used, not revoked, not expired) is reminded when all of these hold:
its client's clinic has client contact details on, the client has an address stored with
consent and has not stopped reminders, the client is active, the session is held or
scheduled and has no client form yet, the link was made ALLIANCE_REMINDER_AFTER_HOURS ago
(24) and the last reminder as long ago, fewer than ALLIANCE_REMINDER_MAX (2) were sent, and
it has at least REMINDER_MIN_LEFT to run (a link about to expire is not worth a message).

Which links: those handed to the client to open on their own device, by email, as a link
or as a QR code (a client who scanned the code in the room and did not finish can still be
reminded, if they consented). Never a tablet hand-over: that link is bound to the clinic's
device and revoked when the therapist takes it back.

The token: only a link's token hash is stored, so a reminder cannot repeat the URL first
sent. It carries a new token for the same link (FormLinkReminder keeps its hash): every
token opens the link, so the first message and a form already open keep working; the link
stays one-time and ends at its own expiry, so a reminder never outlives it.

Idempotent: each reminder is claimed by a conditional UPDATE of the link's count (the count
read, and the link still live) before anything is sent, so two runs at once send it once.
A message that could not be sent gives its claim back but keeps the time, so it is tried
again a reminder interval later, never every run. A sent reminder is logged and audited
with ids only, never the address.
"""

import datetime as dt
import logging

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from alliance.models import AccessEvent, Client, ClientContact
from alliance.notify.channels import ClientMessage, client_notify
from alliance.security.audit import audit_record
from sessions.formlinks import formlink_url
from sessions.models import FormLink, FormLinkReminder, TherapySession, hash_token, new_token

logger = logging.getLogger(__name__)

REMINDED_CHANNELS = (FormLink.Channel.EMAIL, FormLink.Channel.LINK, FormLink.Channel.QR)
REMINDER_MIN_LEFT = dt.timedelta(hours=1)
STOP_SALT = "alliance.notify.reminders.stop"


def reminder_interval() -> dt.timedelta:
    return dt.timedelta(hours=settings.ALLIANCE_REMINDER_AFTER_HOURS)


def formlinks_due_reminder(*, now: dt.datetime | None = None) -> QuerySet[FormLink]:
    """The live form links a reminder is due for now (the rules in the module's doc)."""
    now = now or timezone.now()
    before = now - reminder_interval()
    return (
        FormLink.objects.live()
        .filter(
            channel__in=REMINDED_CHANNELS,
            expires_at__gt=now + REMINDER_MIN_LEFT,
            created_at__lte=before,
            reminders_sent__lt=settings.ALLIANCE_REMINDER_MAX,
            session__client_form=False,
            session__status__in=(
                TherapySession.Status.SCHEDULED,
                TherapySession.Status.COMPLETED,
            ),
            session__client__status=Client.Status.ACTIVE,
            session__client__clinic__client_contact_details=True,
            session__client__contact__isnull=False,
            session__client__contact__reminders_stopped_at__isnull=True,
        )
        .filter(Q(last_reminded_at__isnull=True) | Q(last_reminded_at__lte=before))
    )


def stop_token(contact: ClientContact) -> str:
    """The signed token of a "stop reminders" link (no login: the signature is the
    credential). It names the address it was sent to by the contact's id and the time its
    consent was recorded, so a new address (consent recorded again) makes the links sent to
    the old one stop working."""
    return signing.dumps([contact.pk, contact.consent_recorded_at.isoformat()], salt=STOP_SALT)


def stop_token_read(token: str) -> tuple[int, dt.datetime] | None:
    """The contact id and consent time a stop token was made for; None when it is forged,
    mangled or not ours."""
    try:
        contact_id, consent = signing.loads(token, salt=STOP_SALT)
        consent = dt.datetime.fromisoformat(consent)
    except (signing.BadSignature, TypeError, ValueError):
        return None
    if not isinstance(contact_id, int) or contact_id <= 0 or consent.tzinfo is None:
        return None
    return contact_id, consent


def stop_token_contact(signed: tuple[int, dt.datetime]) -> ClientContact | None:
    """The client's current contact a (valid) stop token names; None when that address is no
    longer the one stored with consent (replaced, withdrawn, deleted)."""
    contact_id, consent = signed
    contact = ClientContact.objects.select_related("client__clinic").filter(pk=contact_id).first()
    if contact is None or contact.consent_recorded_at != consent:
        return None
    return contact


def stop_url(contact: ClientContact) -> str:
    return settings.ALLIANCE_BASE_URL + reverse("reminders_stop", args=[stop_token(contact)])


def formlink_remind(*, link_id: int, now: dt.datetime | None = None) -> bool:
    """Send the link's next reminder if one is due now; True when it was sent."""
    now = now or timezone.now()
    link = (
        formlinks_due_reminder(now=now)
        .select_related("session__client__clinic", "session__client__contact")
        .filter(pk=link_id)
        .first()
    )
    if link is None:
        return False
    client = link.session.client
    token = new_token()
    with transaction.atomic():
        claimed = (
            FormLink.objects.live()
            .filter(pk=link.pk, reminders_sent=link.reminders_sent, expires_at__gt=now)
            .update(reminders_sent=F("reminders_sent") + 1, last_reminded_at=now)
        )
        if claimed != 1:
            return False  # another run sent it, or the link was used or revoked meanwhile
        reminder = FormLinkReminder.objects.create(
            link=link, token_hash=hash_token(token), sent_at=now
        )
    number = link.reminders_sent + 1
    message = ClientMessage(
        template="formlink_reminder",
        language=client.language,
        what=f"form link reminder {number}, link {link.pk}",
        context={
            "clinic": client.clinic.name,
            "url": formlink_url(token),
            # In the clinic's time, shown as it is (templates would convert an aware one).
            "expires": timezone.make_naive(link.expires_at, client.clinic.tzinfo),
        },
        stop_url=stop_url(client.contact),
    )
    if not client_notify(contact=client.contact, message=message):
        with transaction.atomic():
            reminder.delete()
            FormLink.objects.filter(pk=link.pk, reminders_sent=number).update(
                reminders_sent=F("reminders_sent") - 1
            )
        logger.warning("Form link reminder not sent: link %s, client %s", link.pk, client.pk)
        return False
    audit_record(
        action=AccessEvent.Action.CREATE,
        username="formlink_reminders",
        roles="system",
        clinic_id=client.clinic_id,
        object_type="form_link_reminder",
        object_id=link.pk,
        client_id=client.pk,
    )
    logger.info("Form link reminder %d sent: link %s, client %s", number, link.pk, client.pk)
    return True


def formlink_reminders_send(*, now: dt.datetime | None = None) -> int:
    """Send every reminder due now (the periodic job); how many were sent."""
    now = now or timezone.now()
    due = list(formlinks_due_reminder(now=now).order_by("pk").values_list("pk", flat=True))
    return sum(formlink_remind(link_id=pk, now=now) for pk in due)
