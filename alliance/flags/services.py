"""Writes with rules for rupture flags and episodes: the refresh that stores what the engine
finds (after every rating, per clinic, and the retries), the clinician's workflow on an
episode (acknowledge, resolve, comment) and the clinic's rule settings. Keyword-only,
atomic."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from alliance.analytics import DEFAULTS, detect, group_episodes, validate_config
from alliance.flags import selectors as flag_selectors
from alliance.models import (
    Client,
    Clinic,
    Episode,
    EpisodeComment,
    Flag,
    PendingFlagRefresh,
    User,
)
from alliance.notify.services import notices_create_for_episodes
from sessions.models import TherapySession

logger = logging.getLogger(__name__)
# PostgreSQL's SQLSTATE for a lock not obtained within lock_timeout.
LOCK_NOT_AVAILABLE = "55P03"

# --- flags -------------------------------------------------------------------------------
# The rupture engine (alliance.analytics) finds flags and groups them into episodes; these
# services store both and carry the clinician's workflow on the episode (acknowledge,
# resolve, comment).

# What detection sets on a flag and on an episode; the episode's workflow fields (status,
# notes, who/when) are never touched by a refresh.
DETECTION_FIELDS = [  # updated_at last: set by the refresh, not read by it
    "episode",
    "magnitude",
    "explanation",
    "repair_status",
    "repaired_session",
    "retired_at",
    "updated_at",
]
EPISODE_DETECTION_FIELDS = [
    "last_session",
    "repair_status",
    "repaired_session",
    "retired_at",
    "updated_at",
]
# Clients per detect call and per transaction in a clinic-wide refresh.
REFRESH_BATCH_SIZE = 500
# Flags per UPDATE when a refresh changes many (see _flags_upsert).
UPDATE_BATCH_SIZE = 100
# How long the refresh after a rating waits for its client's row (PostgreSQL). A clinic-wide
# recomputation holds every client until it ends: past this, the rating is stored as it is
# and its refresh is left for the retry (flags_refresh_or_defer).
AFTER_RATING_LOCK_WAIT = "2s"


@dataclass
class FlagRefresh:
    """What a refresh did, for the command's figures and the settings page's message."""

    clients: int = 0
    rows: int = 0  # scores-frame rows read
    created: int = 0
    updated: int = 0
    retired: int = 0
    unretired: int = 0
    seconds: float = 0.0
    # Rupture episodes this refresh opened, and those it found unrepaired (ids): the events
    # a therapist is told about (alliance.notify.services.notices_create_for_episodes).
    opened: list[int] = field(default_factory=list)
    unrepaired: list[int] = field(default_factory=list)

    def __add__(self, other: "FlagRefresh") -> "FlagRefresh":
        return FlagRefresh(
            **{name: getattr(self, name) + getattr(other, name) for name in self.__dict__}
        )


def flags_refresh_for_client(*, client: Client, lock_wait: str | None = None) -> FlagRefresh:
    """Recompute one client's flags from their scores and store them (after every rating).

    Uses the clinic's rule settings and norms (clinic norms from the cache, see
    ``flag_selectors.clinic_norms_for``). A constant number of queries, however long the series
    and however many flags. ``lock_wait``: see ``flags_refresh``.
    """
    clinic = client.clinic
    return flags_refresh(
        clinic=clinic,
        client_ids=[client.pk],
        config=flag_selectors.flag_config_for_clinic(clinic),
        lock_wait=lock_wait,
    )


def flags_refresh_or_defer(*, client: Client, notify: bool = True) -> FlagRefresh | None:
    """Refresh a client's flags after their scores changed, never failing the caller.

    Scoring and storing a rating must not depend on the rupture engine: if the refresh fails
    (any error), it is rolled back on its own, logged, and the client is left in
    ``PendingFlagRefresh`` for ``flags_refresh_pending`` to retry. Returns None then.
    ``notify``: tell the therapist about the rupture episodes this refresh opened or found
    unrepaired (in-app notices; never failing the refresh either). An import of past
    ratings passes False: its history is not news.
    """
    try:
        with transaction.atomic():
            result = flags_refresh_for_client(client=client, lock_wait=AFTER_RATING_LOCK_WAIT)
            PendingFlagRefresh.objects.filter(client_id=client.pk).delete()
    except Exception as exc:
        if getattr(exc.__cause__, "pgcode", None) == LOCK_NOT_AVAILABLE:
            logger.warning("Flags of client %s busy (a clinic recomputation?); retried", client.pk)
        else:
            logger.exception("Flag refresh failed for client %s; left for a retry", client.pk)
        _pending_flag_refresh_record(client_id=client.pk, error=type(exc).__name__)
        return None
    if notify and (result.opened or result.unrepaired):
        notices_create_for_episodes(opened=result.opened, unrepaired=result.unrepaired)
    return result


def _pending_flag_refresh_record(*, client_id: int, error: str) -> None:
    pending, created = PendingFlagRefresh.objects.get_or_create(
        client_id=client_id, defaults={"failed_at": timezone.now(), "error": error}
    )
    if not created:
        PendingFlagRefresh.objects.filter(pk=pending.pk).update(
            failed_at=timezone.now(), error=error, attempts=F("attempts") + 1
        )


def flags_refresh_pending() -> tuple[int, int]:
    """Retry the refreshes that failed (``flags_refresh_or_defer``), oldest first.

    A client whose refresh now succeeds leaves the list; one that fails again stays with
    its attempts counted. Returns (refreshed, still failing).
    """
    refreshed = failing = 0
    for pending in PendingFlagRefresh.objects.select_related("client__clinic").order_by(
        "failed_at"
    ):
        if flags_refresh_or_defer(client=pending.client) is None:
            failing += 1
        else:
            refreshed += 1
    return refreshed, failing


def flags_refresh_for_clinic(
    *,
    clinic: Clinic,
    batch_size: int = REFRESH_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> FlagRefresh:
    """Recompute every flag of a clinic: its norms once, then ``batch_size`` clients per
    detect call, each batch in its own transaction. ``progress`` (a background job's) is
    told (clients done, clients in all) after each batch."""
    started = time.perf_counter()
    config = flag_selectors.flag_config_for_clinic(
        clinic, clinic_norms=flag_selectors.clinic_norms_for(clinic, refresh=True)
    )
    ids = list(Client.objects.filter(clinic=clinic).order_by("pk").values_list("pk", flat=True))
    total = FlagRefresh()
    if progress is not None:
        progress(0, len(ids))
    for start in range(0, len(ids), batch_size):
        total += flags_refresh(
            clinic=clinic, client_ids=ids[start : start + batch_size], config=config
        )
        if progress is not None:
            progress(min(start + batch_size, len(ids)), len(ids))
    total.seconds = time.perf_counter() - started
    return total


def flags_refresh(
    *, clinic: Clinic, client_ids: list[int], config: dict, lock_wait: str | None = None
) -> FlagRefresh:
    """Run the rupture engine on these clients of ``clinic`` and upsert their flags by
    identity (client, session, rater, scale, rule), in one transaction.

    New flags are created open; a flag found again keeps its lifecycle status, notes and
    comments while its magnitude, explanation and repair status follow the data; a flag no
    longer found (a corrected rating, a rule switched off) is retired, not deleted, and comes
    back with its history if its condition returns. Bulk writes: no query per flag.
    ``lock_wait`` (PostgreSQL, e.g. "2s"): wait at most that long for the clients' rows, then
    raise (lock_not_available) instead of waiting for another refresh to end.
    """
    started = time.perf_counter()
    wait = lock_wait is not None and connection.vendor == "postgresql"
    with transaction.atomic():
        if wait:
            _lock_timeout(lock_wait)
        # Serialise refreshes of the same client (two forms saved at once): lock the rows.
        ids = list(
            Client.objects.select_for_update()
            .filter(clinic=clinic, pk__in=client_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if wait:
            _lock_timeout(None)  # the server's own limit again, for the rest of the transaction
        frame = flag_selectors.scores_frame(Client.objects.filter(pk__in=ids))
        detected = detect(frame.scores, config)
        result = _flags_upsert(client_ids=ids, detected=detected, session_ids=frame.session_ids)
    result.clients = len(ids)
    result.rows = len(frame.scores)
    result.seconds = time.perf_counter() - started
    return result


def _lock_timeout(value: str | None) -> None:
    """Set PostgreSQL's lock_timeout until the transaction ends (None: back to the default)."""
    with connection.cursor() as cursor:
        if value is None:
            cursor.execute("SET LOCAL lock_timeout = DEFAULT")
        else:
            cursor.execute("SET LOCAL lock_timeout = %s", [value])


def _flags_upsert(
    *, client_ids: list[int], detected, session_ids: dict[tuple[int, int], int]
) -> FlagRefresh:
    """Store the detected flags and their episodes (``group_episodes``) by identity."""
    now = timezone.now()
    result = FlagRefresh()
    episode_of, found = group_episodes(detected)
    episode_ids = _episodes_upsert(found=found, session_ids=session_ids, now=now, result=result)
    existing = {
        (flag.client_id, flag.session_id, flag.rater, flag.scale, flag.rule): flag
        for flag in Flag.objects.filter(client_id__in=client_ids).only(
            "client_id", "session_id", "rater", "scale", "rule", *DETECTION_FIELDS[:-1]
        )
    }
    to_create: list[Flag] = []
    to_update: list[Flag] = []
    seen = set()
    for row, episode in zip(detected.itertuples(index=False), episode_of, strict=True):
        client_id = int(row.client)
        session_id = session_ids[(client_id, int(row.session))]
        repaired_id = (
            None
            if pd.isna(row.repaired_session)
            else session_ids[(client_id, int(row.repaired_session))]
        )
        fields = {
            "episode_id": episode_ids[episode],
            "magnitude": float(row.magnitude),
            "explanation": row.explanation,
            "repair_status": row.repair_status or "",
            "repaired_session_id": repaired_id,
        }
        identity = (client_id, session_id, row.rater, row.scale, row.rule)
        seen.add(identity)
        flag = existing.get(identity)
        if flag is None:
            to_create.append(
                Flag(
                    client_id=client_id,
                    session_id=session_id,
                    rater=row.rater,
                    scale=row.scale,
                    rule=row.rule,
                    **fields,
                )
            )
            continue
        changed = flag.retired_at is not None or any(
            getattr(flag, name) != value for name, value in fields.items()
        )
        if not changed:
            continue
        if flag.retired_at is not None:
            result.unretired += 1
            flag.retired_at = None
        else:
            result.updated += 1
        for name, value in fields.items():
            setattr(flag, name, value)
        flag.updated_at = now
        to_update.append(flag)
    retired = [
        flag.pk
        for identity, flag in existing.items()
        if identity not in seen and flag.retired_at is None
    ]
    Flag.objects.bulk_create(to_create)
    # In batches: bulk_update's CASE WHEN id = ... per field costs the database rows x
    # batch comparisons, so one batch of thousands (a rule switched off) takes seconds.
    Flag.objects.bulk_update(to_update, DETECTION_FIELDS, batch_size=UPDATE_BATCH_SIZE)
    # Retiring sets the same two values on every row: one plain UPDATE.
    Flag.objects.filter(pk__in=retired).update(retired_at=now, updated_at=now)
    Episode.objects.filter(client_id__in=client_ids, retired_at__isnull=True).exclude(
        pk__in=set(episode_ids)
    ).update(retired_at=now, updated_at=now)
    result.created = len(to_create)
    result.retired = len(retired)
    return result


def _episodes_upsert(
    *, found, session_ids: dict[tuple[int, int], int], now, result: FlagRefresh
) -> list[int]:
    """Create or update the episodes of ``group_episodes`` by identity (client, session,
    kind), keeping their workflow; the id of each, in ``found``'s order. The rupture
    episodes it creates, and those that turn unrepaired (unresolved), go in ``result``."""
    rows = []
    for row in found.itertuples(index=False):
        client_id = int(row.client)
        rows.append(
            (
                (client_id, session_ids[(client_id, int(row.session))], row.kind),
                {
                    "last_session_id": session_ids[(client_id, int(row.last_session))],
                    "repair_status": row.repair_status
                    if isinstance(row.repair_status, str)
                    else "",
                    "repaired_session_id": (
                        None
                        if pd.isna(row.repaired_session)
                        else session_ids[(client_id, int(row.repaired_session))]
                    ),
                    "retired_at": None,
                },
            )
        )
    client_ids = {identity[0] for identity, _fields in rows}
    existing = {
        (episode.client_id, episode.session_id, episode.kind): episode
        for episode in Episode.objects.filter(client_id__in=client_ids).only(
            # status: a resolved episode turning unrepaired is no news
            "client_id",
            "session_id",
            "kind",
            "status",
            *EPISODE_DETECTION_FIELDS[:-1],
        )
    }
    to_create, to_update, turned_unrepaired = [], [], []
    unrepaired = Episode.RepairStatus.UNREPAIRED
    for (client_id, session_id, kind), fields in rows:
        episode = existing.get((client_id, session_id, kind))
        if episode is None:
            episode = Episode(client_id=client_id, session_id=session_id, kind=kind, **fields)
            existing[(client_id, session_id, kind)] = episode
            to_create.append(episode)
        elif any(getattr(episode, name) != value for name, value in fields.items()):
            if (
                kind == Episode.Kind.RUPTURE
                and fields["repair_status"] == unrepaired
                and episode.repair_status != unrepaired
                and episode.status != Episode.Status.RESOLVED
            ):
                turned_unrepaired.append(episode)
            for name, value in fields.items():
                setattr(episode, name, value)
            episode.updated_at = now
            to_update.append(episode)
    Episode.objects.bulk_create(to_create)
    Episode.objects.bulk_update(to_update, EPISODE_DETECTION_FIELDS, batch_size=UPDATE_BATCH_SIZE)
    result.opened += [e.pk for e in to_create if e.kind == Episode.Kind.RUPTURE]
    result.unrepaired += [e.pk for e in turned_unrepaired]
    return [existing[identity].pk for identity, _fields in rows]


def _check_may_act(episode: Episode, user: User) -> None:
    if not flag_selectors.flag_may_act(user, episode.client):
        raise ValidationError(
            _("Only a therapist of this client acknowledges or resolves its flags.")
        )
    if episode.retired_at is not None:
        raise ValidationError(
            _("This flag no longer applies: the scores changed since it was raised.")
        )


def _lock_unresolved(episode: Episode) -> Episode:
    """The episode's row, locked until the transaction ends (two clicks, two tabs)."""
    locked = Episode.objects.select_for_update().get(pk=episode.pk)
    if locked.status == Episode.Status.RESOLVED:
        raise ValidationError(_("This flag is already resolved."))
    return locked


def episode_acknowledge(
    *,
    episode: Episode,
    user: User,
    action_note: str,
    action_session: TherapySession | None = None,
    rupture_type: str = "",
    repair_strategy: str = "",
) -> Episode:
    """A therapist of the client acknowledges an episode once, whatever rules it holds, and
    records what they did about it (the note, optionally the session where it happened,
    the rupture's markers after Safran & Muran, and the repair strategy). Acknowledging
    again edits the record."""
    _check_may_act(episode, user)
    errors = {}
    action_note = action_note.strip()
    if not action_note:
        errors["action_note"] = _(
            "Say what you did or will do, e.g. “Discussed the tension at the next session”."
        )
    if (
        action_session is not None
        and not flag_selectors.flag_action_sessions(episode.client)
        .filter(pk=action_session.pk)
        .exists()
    ):
        errors["action_session"] = _("Choose one of this client's held sessions.")
    if rupture_type not in ("", *Episode.RuptureType.values):
        errors["rupture_type"] = _("Choose a rupture type from the list.")
    if repair_strategy not in ("", *Episode.RepairStrategy.values):
        errors["repair_strategy"] = _("Choose a repair strategy from the list.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = _lock_unresolved(episode)
        locked.status = Episode.Status.ACKNOWLEDGED
        locked.acknowledged_by = user
        locked.acknowledged_at = timezone.now()
        locked.action_note = action_note
        locked.action_session = action_session
        locked.rupture_type = rupture_type
        locked.repair_strategy = repair_strategy
        locked.full_clean(validate_constraints=False)
        locked.save(
            update_fields=[
                "status",
                "acknowledged_by",
                "acknowledged_at",
                "action_note",
                "action_session",
                "rupture_type",
                "repair_strategy",
                "updated_at",
            ]
        )
    return locked


def episode_resolve(*, episode: Episode, user: User, note: str = "") -> Episode:
    """A therapist of the client closes an episode (open or acknowledged). A note, if given,
    is kept as the resolver's comment on it."""
    _check_may_act(episode, user)
    with transaction.atomic():
        locked = _lock_unresolved(episode)
        locked.status = Episode.Status.RESOLVED
        locked.resolved_by = user
        locked.resolved_at = timezone.now()
        locked.save(update_fields=["status", "resolved_by", "resolved_at", "updated_at"])
        if note.strip():
            EpisodeComment.objects.create(episode=locked, author=user, text=note.strip())
    return locked


COMMENT_MAX_LENGTH = 2000


def episode_comment_add(*, episode: Episode, user: User, text: str) -> EpisodeComment:
    """A supervisor of the client's therapist, or a therapist of the client, comments on an
    episode (whatever its status)."""
    if not flag_selectors.flag_may_comment(user, episode.client):
        raise ValidationError(
            _("Only the client's therapists and their supervisors comment on its flags.")
        )
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("Write a comment first.")})
    if len(text) > COMMENT_MAX_LENGTH:
        raise ValidationError(
            {
                "text": _("Keep the comment under %(max)d characters (it has %(count)d).")
                % {"max": COMMENT_MAX_LENGTH, "count": len(text)}
            }
        )
    comment = EpisodeComment(episode=episode, author=user, text=text)
    comment.full_clean()
    comment.save()
    return comment


# --- rule settings -----------------------------------------------------------------------


def rule_settings_overrides(config: dict) -> dict:
    """The parameters of a (validated) rule config that differ from the documented defaults:
    what a clinic stores, so a later change of a default reaches every clinic that kept it."""
    overrides = {}
    for rule, defaults in DEFAULTS.items():
        changed = {
            name: value
            for name, value in config.get(rule, {}).items()
            if name in defaults and value != defaults[name]
        }
        if changed:
            overrides[rule] = changed
    return overrides


def clinic_rule_settings_update(*, clinic: Clinic, user: User, rule_settings: dict) -> Clinic:
    """A clinic admin changes the clinic's rupture-rule settings (rules keyed by name, as in
    ``alliance.analytics.DEFAULTS``): they are checked and stored, nothing else. The flags
    are then recomputed with them by a background job (alliance.jobs, FLAGS_RECOMPUTE,
    started by the settings page): a batch of clients per transaction
    (``flags_refresh_for_clinic``); a job that fails says so on its page and can be tried
    again (a failed batch changed nothing; recomputing is idempotent).
    ValidationError when the settings do not validate (the message names the key).
    """
    if not (user.is_active and user.is_clinic_admin and user.clinic_id == clinic.pk):
        raise ValidationError(_("Only a clinic admin of this clinic changes its rule settings."))
    unknown = set(rule_settings) - set(DEFAULTS)
    if unknown:
        raise ValidationError(
            _("Unknown rules: %(rules)s.") % {"rules": ", ".join(sorted(unknown))}
        )
    try:
        merged = validate_config(rule_settings)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    clinic.rule_settings = rule_settings_overrides(merged)
    clinic.save(update_fields=["rule_settings", "updated_at"])
    return clinic
