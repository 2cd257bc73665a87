"""One-time client form links: create, resolve and consume. Keyword-only, atomic.

The token is a 256-bit secret shown once to the therapist (as a URL and a QR code); only its
SHA-256 hash is stored. A link is consumed by a single conditional UPDATE in the same
transaction as the rating, so exactly one submission can use it, whatever the concurrency.
"""

import datetime as dt
import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from alliance.clients.contacts import client_contact_of, client_contact_record
from alliance.flags.services import flags_refresh_or_defer
from alliance.notify.email import email_send
from measures.models import Instrument, Rater, Rating
from measures.services import AlreadyRated, rating_record
from sessions.models import FormLink, TherapySession, hash_token, new_token
from sessions.services import (
    NotRateable,
    session_check_rateable,
    session_complete_if_scheduled,
    session_lock_rateable,
)

# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
# Why no link is made, by NotRateable's code: the therapist reads it on the session page.
NOT_RATEABLE = {
    "closed": _("A cancelled or missed session has no client form."),
    "not_started": _(
        "This session has not started yet: the client form can be handed out once it has."
    ),
}


class FormLinkError(Exception):
    """A link that cannot be used; ``status`` is the HTTP status the client page answers."""

    status = 410
    reason = "gone"

    def __init__(self, link: FormLink | None = None) -> None:
        self.link = link
        super().__init__(self.reason)


class FormLinkNotFound(FormLinkError):
    status = 404
    reason = "not_found"


class FormLinkUsed(FormLinkError):
    reason = "used"


class FormLinkExpired(FormLinkError):
    reason = "expired"


class FormLinkRevoked(FormLinkError):
    reason = "revoked"


class SessionAlreadyRated(FormLinkError):
    """The session already has a client rating from another submission."""

    reason = "already_rated"


class SessionNotRateable(FormLinkError):
    """The link's session cannot be rated now (session_check_rateable); ``reason`` is
    NotRateable's code: "closed" (cancelled or missed) or "not_started"."""

    status = 409

    def __init__(self, link: FormLink, reason: str) -> None:
        self.reason = reason
        super().__init__(link)


def formlink_url(token: str) -> str:
    """The public address of a link, as the client opens it."""
    return settings.ALLIANCE_BASE_URL + reverse("client_form", args=[token])


def _not_rateable_refusal(session: TherapySession) -> str | None:
    try:
        session_check_rateable(session=session)
    except NotRateable as exc:
        return NOT_RATEABLE[exc.code]
    return None


def formlink_refusal(*, session: TherapySession) -> str | None:
    """Why no client form link can be made for this session now; None when it can."""
    if refusal := _not_rateable_refusal(session):
        return refusal
    if Rating.objects.filter(session=session, rater=Rater.CLIENT).exists():
        return _("The client has already filled in the form for this session.")
    return None


def formlink_may_hand_out(*, session: TherapySession, user) -> bool:
    """The session's therapist and the client's primary therapist hand out the client form;
    anyone else who can see the session (a supervisor, a clinic admin) only reads."""
    return user.pk in (session.therapist_id, session.client.primary_therapist_id)


def session_days_ago(session: TherapySession) -> int:
    """How many calendar days ago the session took place, in its clinic's timezone (0: today,
    negative: a later day)."""
    clinic_tz = session.client.clinic.tzinfo
    today = timezone.localdate(timezone=clinic_tz)
    return (today - timezone.localtime(session.starts_at, clinic_tz).date()).days


def formlink_kiosk_needs_confirmation(*, session: TherapySession) -> bool:
    """A tablet hand-over of a session older than the clinic allows needs the therapist to
    confirm it: the client would otherwise rate a session long past, likely the wrong one."""
    return session_days_ago(session) > session.client.clinic.kiosk_session_days


def formlink_status(*, session: TherapySession, user) -> dict[str, Any]:
    """What the session page shows about the client form: the client's rating (when, not
    what), the newest live link (with its reminders sent), why no link can be made, whether
    this user may hand it out, whether a tablet hand-over needs their confirmation (with how
    many days ago), whether the clinic stores client contact details and the client's stored
    address (with when they stopped reminders, if they did)."""
    rating = Rating.objects.filter(session=session, rater=Rater.CLIENT).only("submitted_at").first()
    return {
        "rating": rating,
        "live_link": session.form_links.live().order_by("-created_at").first(),
        "refusal": None if rating else _not_rateable_refusal(session),
        "can_hand_out": formlink_may_hand_out(session=session, user=user),
        "kiosk_needs_confirmation": formlink_kiosk_needs_confirmation(session=session),
        "days_ago": session_days_ago(session),
        "contact_details": session.client.clinic.client_contact_details,
        "contact": client_contact_of(session.client),
    }


def formlink_create(
    *,
    session: TherapySession,
    created_by,
    channel: str = FormLink.Channel.LINK,
    older_session_confirmed: bool = False,
) -> tuple[FormLink, str]:
    """Make a new one-time link for the session's client form and return (link, token).

    The previous live link of the session is revoked in the same transaction. The token is
    returned once and never stored. Raises ValidationError when the session takes no form,
    or (code "confirm_older_session") for a tablet hand-over of a session older than the
    clinic allows unless the therapist confirmed it (``older_session_confirmed``).
    """
    refusal = formlink_refusal(session=session)
    if refusal:
        raise ValidationError(refusal)
    if (
        channel == FormLink.Channel.KIOSK
        and not older_session_confirmed
        and formlink_kiosk_needs_confirmation(session=session)
    ):
        days = session_days_ago(session)
        raise ValidationError(
            ngettext(
                "This session was %(days)d day ago. Confirm that the client is to fill in "
                "the form for it before handing over the device.",
                "This session was %(days)d days ago. Confirm that the client is to fill in "
                "the form for it before handing over the device.",
                days,
            )
            % {"days": days},
            code="confirm_older_session",
        )
    token = new_token()
    with transaction.atomic():
        # Serialises two creations for one session (one live link per session).
        TherapySession.objects.select_for_update().filter(pk=session.pk).exists()
        now = timezone.now()
        FormLink.objects.live().filter(session=session).update(revoked_at=now)
        link = FormLink.objects.create(
            session=session,
            token_hash=hash_token(token),
            channel=channel,
            created_by=created_by,
            expires_at=now + dt.timedelta(hours=session.client.clinic.form_link_hours),
        )
    return link, token


def formlink_email(
    *, session: TherapySession, created_by, address: str, store: bool = False
) -> FormLink:
    """Make a new one-time link (``formlink_create``) and email it to ``address``, in the
    client's language: the clinic's name, the link and how long it works; never the
    client's code, a score or the therapist's name. The address is used for this message
    and stored nowhere, unless ``store``: the therapist recorded the client's consent, and
    once the message is sent the address is kept as the client's contact
    (``client_contact_record``, which refuses when the clinic does not store them).
    ValidationError when the session takes no form, or when the message could not be sent
    (the new link is then revoked: the previous one is gone either way)."""
    if store and not session.client.clinic.client_contact_details:
        raise ValidationError(_("Your clinic does not store client contact details."))
    link, token = formlink_create(
        session=session, created_by=created_by, channel=FormLink.Channel.EMAIL
    )
    context = {
        "clinic": session.client.clinic.name,
        "url": formlink_url(token),
        "hours": session.client.clinic.form_link_hours,
    }
    with translation.override(session.client.language):
        subject = render_to_string("sessions/client/link_email_subject.txt", context)
        body = render_to_string("sessions/client/link_email.txt", context)
    sent = email_send(
        subject=subject, body=body, to=address, what=f"form link, session {session.pk}"
    )
    if not sent:
        formlink_revoke_unused(link=link)
        raise ValidationError(
            _("The email could not be sent. Try again, or show a QR code instead.")
        )
    if store:
        client_contact_record(client=session.client, address=address, recorded_by=created_by)
    return link


def formlink_revoke_unused(*, link: FormLink) -> bool:
    """Revoke the link unless it was used; True when it was revoked now."""
    revoked = FormLink.objects.filter(pk=link.pk, used_at__isnull=True, revoked_at__isnull=True)
    return revoked.update(revoked_at=timezone.now()) == 1


def _check_usable(link: FormLink) -> FormLink:
    if link.used_at is not None:
        raise FormLinkUsed(link)
    if link.revoked_at is not None:
        raise FormLinkRevoked(link)
    if link.is_expired:
        raise FormLinkExpired(link)
    return link


def _links():
    return FormLink.objects.select_related("session__client__clinic")


def formlink_by_token_hash(token_hash: str) -> FormLink | None:
    """The link a token opens: the token it was made with, or one a reminder carried
    (alliance.notify.reminders). Two probes of unique indexes, never an OR across a join."""
    link = _links().filter(token_hash=token_hash).first()
    if link is None:
        link = _links().filter(reminders__token_hash=token_hash).first()
    return link


def formlink_resolve(token: str) -> FormLink:
    """The usable link for a token. Raises FormLinkNotFound (unknown or malformed token),
    FormLinkUsed, FormLinkRevoked or FormLinkExpired (each carrying the link)."""
    if not TOKEN_PATTERN.fullmatch(token):
        raise FormLinkNotFound()
    link = formlink_by_token_hash(hash_token(token))
    if link is None:
        raise FormLinkNotFound()
    return _check_usable(link)


def formlink_resolve_kiosk(link_id: int) -> FormLink:
    """The usable kiosk link a hand-over bound the device to; errors as formlink_resolve."""
    link = _links().filter(pk=link_id, channel=FormLink.Channel.KIOSK).first()
    if link is None:
        raise FormLinkNotFound()
    return _check_usable(link)


def formlink_check_rateable(*, link: FormLink) -> None:
    """SessionNotRateable when the link's session cannot be rated now (the form says why)."""
    try:
        session_check_rateable(session=link.session)
    except NotRateable as exc:
        raise SessionNotRateable(link, exc.code) from None


def formlink_submission(*, link: FormLink, submission_id: uuid.UUID) -> Rating | None:
    """The rating this form submission already stored for the link's session, if any."""
    return Rating.objects.filter(submission_id=submission_id, session_id=link.session_id).first()


def formlink_submit(
    *,
    link: FormLink,
    instrument: Instrument,
    answers: dict[str, Any],
    questions: dict[str, Any],
    submission_id: uuid.UUID,
    language: str,
) -> tuple[Rating, bool]:
    """Consume the link and record the client's rating in one transaction, then refresh the
    client's flags (the client link and the kiosk).

    ``instrument`` is the clinic's client instrument the form was shown with
    (``instrument_for(clinic=..., rater=Rater.CLIENT)``): the answers are scored with it.

    Returns (rating, created). A resubmission of a submission that was already stored
    (double tap, refresh, two tabs) returns that rating with created=False. Raises
    FormLinkUsed / FormLinkRevoked / FormLinkExpired when the link can no longer be used,
    SessionAlreadyRated when another submission rated the session, SessionNotRateable when
    the session was cancelled or has not started (the rule the API applies), and
    ValidationError (keyed by item or question) for invalid answers; nothing is consumed then.
    """
    stored = formlink_submission(link=link, submission_id=submission_id)
    if stored is not None:
        return stored, False
    session = link.session
    with transaction.atomic():
        try:
            session_lock_rateable(session=session)
        except NotRateable as exc:
            raise SessionNotRateable(link, exc.code) from None
        now = timezone.now()
        # The single-use guarantee: only one transaction can turn this row from live to used.
        consumed = FormLink.objects.filter(
            pk=link.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if consumed != 1:
            stored = formlink_submission(link=link, submission_id=submission_id)
            if stored is not None:
                return stored, False
            _check_usable(FormLink.objects.get(pk=link.pk))
            raise FormLinkUsed(link)  # the check above raises: the UPDATE tests the same
        # Completed first: the flag refresh after the rating counts held sessions only.
        session_complete_if_scheduled(session=session)
        try:
            rating, created = rating_record(
                session=session,
                instrument=instrument,
                answers=answers,
                questions=questions,
                submission_id=submission_id,
                language=language,
            )
        except AlreadyRated:
            raise SessionAlreadyRated(link) from None
        if not created:
            # The submission id belongs to another session's rating: never show it here.
            raise SessionAlreadyRated(link)
        # In its own savepoint: a failed refresh is rolled back alone and retried later; the
        # rating and the consumed link stay (flags_refresh_or_defer).
        flags_refresh_or_defer(client=session.client)
    return rating, True
