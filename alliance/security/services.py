"""Writes with rules for the security features: two-factor devices and the API tokens they
bind, clinic security settings and purging clients past the clinic's retention period.
Keyword-only, atomic."""

import datetime as dt
from collections import Counter

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from alliance.api.authentication import token_expired, token_has_second_factor
from alliance.clients.contacts import clinic_contacts_delete
from alliance.models import (
    AccessEvent,
    ApiTokenSecondFactor,
    Client,
    ClientContact,
    ClientTransfer,
    Clinic,
    Episode,
    EpisodeComment,
    Flag,
    User,
)
from alliance.people.services import user_sessions_end
from alliance.security.audit import audit_record, audit_record_many
from measures.models import ItemAnswer, Rating, RatingChange, ScaleScore
from sessions.models import FormLink, TherapySession

DEVICE_NAME = "Authenticator app"

# --- two-factor --------------------------------------------------------------------------


class EnrolmentTokenGenerator(PasswordResetTokenGenerator):
    """One-time tokens for a two-factor enrolment link (a salt of their own, so a
    set-password token is never one). A token names the user's devices as they were: it stops
    working once an app is confirmed, or removed, and after PASSWORD_RESET_TIMEOUT."""

    key_salt = "alliance.security.two_factor_enrolment"

    def _make_hash_value(self, user, timestamp) -> str:
        devices = TOTPDevice.objects.filter(user=user).order_by("pk")
        state = ",".join(
            f"{pk}:{confirmed}" for pk, confirmed in devices.values_list("pk", "confirmed")
        )
        return f"{user.pk}{user.is_active}{state}{timestamp}"


enrolment_tokens = EnrolmentTokenGenerator()


def two_factor_enrolment_link(*, user: User) -> str:
    """The path of a one-time link where the user sets up their authenticator app, for a
    clinic admin (or, for site staff, `manage.py two_factor_link`) to hand over: where a
    second factor is required, knowing the password is not enough to choose the app."""
    two_factor_device_pending(user=user)  # the link is for this app: the token names it
    return reverse(
        "two_factor_enrol",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": enrolment_tokens.make_token(user),
        },
    )


def two_factor_device_pending(*, user: User) -> TOTPDevice:
    """The user's authenticator app being set up (unconfirmed until a code is entered)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def two_factor_confirm(*, device: TOTPDevice, token: str) -> bool:
    """Confirm a pending device with a code from the app; it replaces any earlier device.
    The user's API tokens are revoked: the next one is issued with a code from this app."""
    with transaction.atomic():
        if not device.verify_token(token):
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user_id=device.user_id).exclude(pk=device.pk).delete()
        Token.objects.filter(user_id=device.user_id).delete()
    return True


def two_factor_remove(*, user: User) -> None:
    """Stop using an authenticator app (refused where the clinic requires one)."""
    if user.clinic_id and user.clinic.require_two_factor:
        raise ValidationError(_("Your clinic requires two-factor sign-in."))
    TOTPDevice.objects.filter(user=user).delete()


def two_factor_reset(*, user: User, changed_by: User) -> int:
    """A clinic admin removes someone's authenticator app (a lost phone) and logs them out;
    they set up a new one at their next login. Returns the login sessions ended."""
    if user.pk == changed_by.pk:
        raise ValidationError(_("Remove your own authenticator app from your two-factor page."))
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        Token.objects.filter(user=user).delete()  # an API login is a login too
        return user_sessions_end(user=user)


def api_token_issue(*, user: User, second_factor: bool) -> Token:
    """The user's API token, after their password (and ``second_factor``: a code verified).

    The same token until it expires; a new one when this login was verified with a second
    factor and the token was not, so a token from before two-factor sign-in never comes back.
    """
    with transaction.atomic():
        token = Token.objects.select_related("second_factor").filter(user=user).first()
        if token is not None and (
            token_expired(token) or (second_factor and not token_has_second_factor(token))
        ):
            token.delete()
            token = None
        if token is None:
            try:
                with transaction.atomic():
                    token = Token.objects.create(user=user)
            except IntegrityError:
                # A parallel request issued the user's token first: both answer with it.
                return Token.objects.get(user=user)
            if second_factor:
                ApiTokenSecondFactor.objects.create(token=token)
    return token


# --- clinic settings ---------------------------------------------------------------------


def clinic_security_update(
    *,
    clinic: Clinic,
    require_two_factor: bool,
    retention_days: int,
    kiosk_session_days: int | None = None,
    client_contact_details: bool | None = None,
    changed_by: User | None = None,
) -> Clinic:
    """Save the clinic's security settings (``kiosk_session_days`` and
    ``client_contact_details`` None: unchanged). Requiring two-factor sign-in revokes the API
    tokens issued without a second factor to the clinic's people. Turning client contact
    details off deletes every client address the clinic stored: with no use left for them,
    they are not kept (and turning it on again starts with none, each to be consented anew):
    one audit event per client whose address went, by ``changed_by``."""
    clinic.require_two_factor = require_two_factor
    clinic.retention_days = retention_days
    if kiosk_session_days is not None:
        clinic.kiosk_session_days = kiosk_session_days
    if client_contact_details is not None:
        clinic.client_contact_details = client_contact_details
    clinic.full_clean()
    with transaction.atomic():
        clinic.save(
            update_fields=[
                "require_two_factor",
                "retention_days",
                "kiosk_session_days",
                "client_contact_details",
                "updated_at",
            ]
        )
        if require_two_factor:
            Token.objects.filter(user__clinic=clinic, second_factor__isnull=True).delete()
        if not clinic.client_contact_details:
            deleted = clinic_contacts_delete(clinic=clinic, deleted_by=changed_by)
            audit_record_many(
                action=AccessEvent.Action.DELETE,
                user=changed_by,
                username="" if changed_by else "clinic_security",
                object_type="client_contact",
                events=[{"clinic_id": clinic.pk, "client_id": pk} for pk in deleted],
            )
    return clinic


# --- retention ---------------------------------------------------------------------------


def clients_past_retention(*, now: dt.datetime | None = None):
    """Discharged clients whose clinic's retention period has passed, clinic by clinic."""
    now = now or timezone.now()
    for clinic in Clinic.objects.order_by("pk"):
        cutoff = now - dt.timedelta(days=clinic.retention_days)
        yield from clinic.clients.filter(
            status=Client.Status.DISCHARGED, discharged_at__lt=cutoff
        ).order_by("pk")


def client_purge_counts(client: Client) -> Counter:
    """What purging the client removes, by kind (read only: for --dry-run and the report)."""
    ratings = Rating.objects.filter(session__client=client)
    sessions = TherapySession.objects.filter(client=client)
    flags = Flag.objects.filter(client=client)
    episodes = Episode.objects.filter(client=client)
    return Counter(
        {
            "sessions": sessions.count(),
            "ratings": ratings.count(),
            "answers": ItemAnswer.objects.filter(rating__in=ratings).count(),
            "scores": ScaleScore.objects.filter(rating__in=ratings).count(),
            "rating changes": RatingChange.objects.filter(rating__in=ratings).count(),
            "episodes": episodes.count(),
            "flags": flags.count(),
            "comments": EpisodeComment.objects.filter(episode__in=episodes).count(),
            "form links": FormLink.objects.filter(session__in=sessions).count(),
            "transfers": ClientTransfer.objects.filter(client=client).count(),
            "contact details": ClientContact.objects.filter(client=client).count(),
        }
    )


def expired_clients_purge(*, dry_run: bool = False) -> list[tuple[Client, Counter]]:
    """Every discharged client past their clinic's retention (``clients_past_retention``)
    with what purging them removed (``client_purge``), or would remove when ``dry_run``
    (``client_purge_counts``): ``manage.py purge_expired`` and the nightly job."""
    clients = list(clients_past_retention())
    if dry_run:
        return [(client, client_purge_counts(client)) for client in clients]
    return [(client, client_purge(client=client)) for client in clients]


def client_purge(*, client: Client) -> Counter:
    """Remove the client and everything about them, in one transaction: sessions, ratings
    (answers, scores, changes), episodes with their flags and comments, form links, transfers,
    and their change history. Audit events stay: they hold ids and no clinical data. Returns
    what went."""
    with transaction.atomic():
        client = Client.objects.select_for_update().get(pk=client.pk)
        if client.status != Client.Status.DISCHARGED:
            raise ValidationError(_("Only a discharged client's record is purged."))
        removed = client_purge_counts(client)
        EpisodeComment.objects.filter(episode__client=client).delete()
        Flag.objects.filter(client=client).delete()
        Episode.objects.filter(client=client).delete()
        # Answers, scores and rating changes go with their ratings (CASCADE).
        Rating.objects.filter(session__client=client).delete()
        TherapySession.objects.filter(client=client).delete()  # form links CASCADE
        ClientTransfer.objects.filter(client=client).delete()
        ClientContact.objects.filter(client=client).delete()
        client_id, clinic_id = client.pk, client.clinic_id
        client.delete()
        # Last: deleting writes a final history row per record, which goes too.
        history = (
            Episode.history.filter(client_id=client_id).delete()[0]
            + TherapySession.history.filter(client_id=client_id).delete()[0]
            + Client.history.filter(id=client_id).delete()[0]
            + ClientContact.history.filter(client_id=client_id).delete()[0]
        )
        removed["history rows"] = history
        audit_record(
            action=AccessEvent.Action.DELETE,
            username="purge_expired",
            roles="system",
            clinic_id=clinic_id,
            object_type="client",
            object_id=client_id,
            client_id=client_id,
        )
    return removed
