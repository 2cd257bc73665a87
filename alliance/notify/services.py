"""Notices: made when the flag refresh after a rating opens a rupture episode or finds one
unrepaired (``alliance.flags.services.flags_refresh_or_defer``), read and marked read by
their recipient, and emailed according to each person's choice (``User.alert_email``:
at once here, on commit; the digests in ``alliance.notify.alerts``). Keyword-only."""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from alliance.models import AccessEvent, Episode, Notice, User
from alliance.security.audit import audit_record_many

logger = logging.getLogger(__name__)


def notices_create_for_episodes(*, opened: list[int], unrepaired: list[int]) -> int:
    """One notice per event for the client's primary therapist: a rupture episode opened
    (``opened``), or one found unrepaired (``unrepaired``). Idempotent (a refresh run twice
    makes one notice) and never raising: a notice that cannot be made is logged, the
    rating and its flags stay. Those who chose emails at once get one after the commit.
    Each notice made is audited: one system event per notice (the therapist told as its
    user, the episode as its object, the client), all in one INSERT. Returns how many
    notices were made (conflicts ignored). Three queries (and a savepoint)."""
    events = [(pk, Notice.Kind.EPISODE_OPENED) for pk in opened] + [
        (pk, Notice.Kind.EPISODE_UNREPAIRED) for pk in unrepaired
    ]
    try:
        with transaction.atomic():
            # Each episode with its client's therapist, how they want to be emailed, and the
            # notices they already have about it (a refresh run again: no second event).
            told = Notice.objects.filter(
                episode=OuterRef("pk"), recipient=OuterRef("client__primary_therapist")
            )
            episodes = {
                row["pk"]: row
                for row in Episode.objects.filter(
                    pk__in={pk for pk, _kind in events},
                    client__primary_therapist__is_active=True,
                    client__primary_therapist__is_therapist=True,
                )
                .annotate(
                    **{
                        kind: Exists(told.filter(kind=kind))
                        for kind in (Notice.Kind.EPISODE_OPENED, Notice.Kind.EPISODE_UNREPAIRED)
                    }
                )
                .values(
                    Notice.Kind.EPISODE_OPENED,
                    Notice.Kind.EPISODE_UNREPAIRED,
                    "pk",
                    "client_id",
                    "client__clinic_id",
                    "client__primary_therapist_id",
                    "client__primary_therapist__alert_email",
                    "client__primary_therapist__email",
                )
            }
            notices = [
                Notice(
                    recipient_id=row["client__primary_therapist_id"],
                    kind=kind,
                    episode_id=pk,
                    client_id=row["client_id"],
                )
                for pk, kind in events
                if (row := episodes.get(pk)) is not None and not row[kind]
            ]
            if notices:
                # Two refreshes at once: the later one's conflict is ignored (its event stays).
                Notice.objects.bulk_create(notices, ignore_conflicts=True)
                audit_record_many(
                    action=AccessEvent.Action.CREATE,
                    username="alerts",
                    object_type="episode_notice",  # the notice's id is not returned
                    events=[
                        {
                            "user_id": notice.recipient_id,
                            "clinic_id": episodes[notice.episode_id]["client__clinic_id"],
                            "object_id": notice.episode_id,
                            "client_id": notice.client_id,
                        }
                        for notice in notices
                    ],
                )
    except Exception:
        logger.exception("Notices for episodes %s not made", [pk for pk, _kind in events])
        return 0
    at_once = {
        row["client__primary_therapist_id"]
        for row in episodes.values()
        if row["client__primary_therapist__alert_email"] == User.AlertEmail.IMMEDIATELY
        and row["client__primary_therapist__email"]
    }
    for user_id in at_once:
        # robust: a broker that cannot be reached is logged, never fails the stored rating.
        transaction.on_commit(lambda user_id=user_id: _email_at_once(user_id), robust=True)
    return len(notices)


def _email_at_once(user_id: int) -> None:
    from alliance.notify.tasks import notices_email_at_once  # the task sends with alerts.py

    notices_email_at_once.delay(user_id)


def notice_mark_read(*, notice: Notice) -> Notice:
    if notice.read_at is None:
        notice.read_at = timezone.now()
        Notice.objects.filter(pk=notice.pk, read_at__isnull=True).update(read_at=notice.read_at)
    return notice


def notices_mark_all_read(*, user: User) -> int:
    """Every unread notice of the user (those out of scope too: nothing left to tell)."""
    return Notice.objects.filter(recipient=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def notices_mark_read_for_episode(*, user: User, episode: Episode) -> int:
    """Opening an episode's page reads the user's notices about it (one UPDATE)."""
    return Notice.objects.filter(recipient=user, episode=episode, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def user_settings_update(*, user: User, alert_email: str, language: str) -> User:
    """A person's own choices: email alerts and the language of their messages."""
    errors = {}
    if alert_email not in User.AlertEmail.values:
        errors["alert_email"] = _("Choose how you want to be emailed from the list.")
    if language not in dict(settings.LANGUAGES):
        errors["language"] = _("Choose a language from the list.")
    if errors:
        raise ValidationError(errors)
    user.alert_email = alert_email
    user.language = language
    user.save(update_fields=["alert_email", "language"])
    return user
