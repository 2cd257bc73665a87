"""Writes with rules for the core domain. Keyword-only, atomic."""

import logging
import re
import time
from dataclasses import dataclass

import pandas as pd
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from alliance import selectors
from alliance.analytics import DEFAULTS, detect, group_episodes, validate_config
from alliance.models import (
    Client,
    ClientTransfer,
    Clinic,
    Episode,
    EpisodeComment,
    Flag,
    PendingFlagRefresh,
    Supervision,
    User,
)
from alliance.selectors import client_code_suggest
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

    def __add__(self, other: "FlagRefresh") -> "FlagRefresh":
        return FlagRefresh(
            **{name: getattr(self, name) + getattr(other, name) for name in self.__dict__}
        )


def flags_refresh_for_client(*, client: Client, lock_wait: str | None = None) -> FlagRefresh:
    """Recompute one client's flags from their scores and store them (after every rating).

    Uses the clinic's rule settings and norms (clinic norms from the cache, see
    ``selectors.clinic_norms_for``). A constant number of queries, however long the series
    and however many flags. ``lock_wait``: see ``flags_refresh``.
    """
    clinic = client.clinic
    return flags_refresh(
        clinic=clinic,
        client_ids=[client.pk],
        config=selectors.flag_config_for_clinic(clinic),
        lock_wait=lock_wait,
    )


def flags_refresh_or_defer(*, client: Client) -> FlagRefresh | None:
    """Refresh a client's flags after their scores changed, never failing the caller.

    Scoring and storing a rating must not depend on the rupture engine: if the refresh fails
    (any error), it is rolled back on its own, logged, and the client is left in
    ``PendingFlagRefresh`` for ``flags_refresh_pending`` to retry. Returns None then.
    """
    try:
        with transaction.atomic():
            result = flags_refresh_for_client(client=client, lock_wait=AFTER_RATING_LOCK_WAIT)
            PendingFlagRefresh.objects.filter(client_id=client.pk).delete()
            return result
    except Exception as exc:
        if getattr(exc.__cause__, "pgcode", None) == LOCK_NOT_AVAILABLE:
            logger.warning("Flags of client %s busy (a clinic recomputation?); retried", client.pk)
        else:
            logger.exception("Flag refresh failed for client %s; left for a retry", client.pk)
        _pending_flag_refresh_record(client_id=client.pk, error=type(exc).__name__)
        return None


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
    *, clinic: Clinic, batch_size: int = REFRESH_BATCH_SIZE
) -> FlagRefresh:
    """Recompute every flag of a clinic: its norms once, then ``batch_size`` clients per
    detect call, each batch in its own transaction."""
    started = time.perf_counter()
    config = selectors.flag_config_for_clinic(
        clinic, clinic_norms=selectors.clinic_norms_for(clinic, refresh=True)
    )
    ids = list(Client.objects.filter(clinic=clinic).order_by("pk").values_list("pk", flat=True))
    total = FlagRefresh()
    for start in range(0, len(ids), batch_size):
        total += flags_refresh(
            clinic=clinic, client_ids=ids[start : start + batch_size], config=config
        )
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
        frame = selectors.scores_frame(Client.objects.filter(pk__in=ids))
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
    episode_ids = _episodes_upsert(found=found, session_ids=session_ids, now=now)
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


def _episodes_upsert(*, found, session_ids: dict[tuple[int, int], int], now) -> list[int]:
    """Create or update the episodes of ``group_episodes`` by identity (client, session,
    kind), keeping their workflow; the id of each, in ``found``'s order."""
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
            "client_id", "session_id", "kind", *EPISODE_DETECTION_FIELDS[:-1]
        )
    }
    to_create, to_update = [], []
    for (client_id, session_id, kind), fields in rows:
        episode = existing.get((client_id, session_id, kind))
        if episode is None:
            episode = Episode(client_id=client_id, session_id=session_id, kind=kind, **fields)
            existing[(client_id, session_id, kind)] = episode
            to_create.append(episode)
        elif any(getattr(episode, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(episode, name, value)
            episode.updated_at = now
            to_update.append(episode)
    Episode.objects.bulk_create(to_create)
    Episode.objects.bulk_update(to_update, EPISODE_DETECTION_FIELDS, batch_size=UPDATE_BATCH_SIZE)
    return [existing[identity].pk for identity, _fields in rows]


def _check_may_act(episode: Episode, user: User) -> None:
    if not selectors.flag_may_act(user, episode.client):
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
        and not selectors.flag_action_sessions(episode.client).filter(pk=action_session.pk).exists()
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
    if not selectors.flag_may_comment(user, episode.client):
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


def clinic_rule_settings_update(
    *, clinic: Clinic, user: User, rule_settings: dict
) -> tuple[Clinic, FlagRefresh]:
    """A clinic admin changes the clinic's rupture-rule settings (rules keyed by name, as in
    ``alliance.analytics.DEFAULTS``) and every flag of the clinic is recomputed with them,
    all or nothing: if the recomputation fails, the old settings and flags stay.

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
    previous = clinic.rule_settings
    try:
        with transaction.atomic():
            clinic.rule_settings = rule_settings_overrides(merged)
            clinic.save(update_fields=["rule_settings", "updated_at"])
            return clinic, flags_refresh_for_clinic(clinic=clinic)
    except Exception:
        logger.exception("Recomputing the flags of clinic %s failed; settings kept", clinic.pk)
        clinic.rule_settings = previous
        raise ValidationError(
            _(
                "The flags could not be recomputed with these settings, so nothing was "
                "changed. Please try again; if it keeps failing, tell your administrator."
            )
        ) from None


# --- clients -----------------------------------------------------------------------------

# Pseudonymous codes: letters, digits and . _ - (safe in exports and file names).
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Attempts at a suggested code when concurrent requests take the same one.
CODE_ATTEMPTS = 5


def _check_primary_therapist(*, clinic_id: int, therapist: User) -> None:
    if not (therapist.is_therapist and therapist.is_active and therapist.clinic_id == clinic_id):
        raise ValidationError(
            {"primary_therapist": _("Choose an active therapist of the client's clinic.")}
        )


def _check_code(code: str) -> None:
    if not CODE_PATTERN.match(code):
        raise ValidationError(
            {
                "code": _(
                    "Use letters, digits, dots, dashes or underscores, starting with a letter "
                    "or digit (for example R-0042). Never the client's name."
                )
            }
        )


def _check_code_free(*, clinic_id: int, code: str, client_pk: int | None = None) -> None:
    taken = Client.objects.filter(clinic_id=clinic_id, code__iexact=code).exclude(pk=client_pk)
    if taken.exists():
        raise ValidationError(
            {
                "code": _("A client with the code %(code)s already exists in your clinic.")
                % {"code": code}
            }
        )


def client_create(
    *,
    clinic: Clinic,
    primary_therapist: User,
    code: str = "",
    display_name: str = "",
    language: str = Client.Language.ENGLISH,
    show_scores_to_client: bool = False,
) -> Client:
    """Add an active client. An empty code gets the clinic's next suggested code."""
    _check_primary_therapist(clinic_id=clinic.pk, therapist=primary_therapist)
    code = code.strip()
    if code:
        _check_code(code)
        _check_code_free(clinic_id=clinic.pk, code=code)
    for _attempt in range(1 if code else CODE_ATTEMPTS):
        client = Client(
            clinic=clinic,
            primary_therapist=primary_therapist,
            code=code or client_code_suggest(clinic),
            display_name=display_name.strip(),
            language=language,
            show_scores_to_client=show_scores_to_client,
        )
        client.full_clean()
        try:
            with transaction.atomic():
                client.save()
        except IntegrityError:
            continue  # another request took the code between the check and the insert
        return client
    raise ValidationError({"code": _("This code was just taken. Please choose another.")})


def client_update(
    *,
    client: Client,
    code: str,
    display_name: str,
    language: str,
    status: str,
    show_scores_to_client: bool,
) -> Client:
    """Change a client's record. Discharging records when; reactivating clears it."""
    code = code.strip()
    _check_code(code)
    _check_code_free(clinic_id=client.clinic_id, code=code, client_pk=client.pk)
    fields = {
        "code": code,
        "display_name": display_name.strip(),
        "language": language,
        "status": status,
        "show_scores_to_client": show_scores_to_client,
    }
    if status != client.status:
        fields["discharged_at"] = timezone.now() if status == Client.Status.DISCHARGED else None
    changed = [name for name, value in fields.items() if getattr(client, name) != value]
    for name in changed:
        setattr(client, name, fields[name])
    if not changed:
        return client
    client.full_clean()
    try:
        with transaction.atomic():
            client.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:
        raise ValidationError(
            {"code": _("This code was just taken. Please choose another.")}
        ) from None
    return client


def client_transfer(
    *, client: Client, to_therapist: User, transferred_by: User, note: str = ""
) -> ClientTransfer:
    """Make another therapist of the clinic the client's primary therapist; keep the history."""
    if not (transferred_by.is_clinic_admin and transferred_by.clinic_id == client.clinic_id):
        raise ValidationError(_("Only a clinic admin of the client's clinic transfers clients."))
    _check_primary_therapist(clinic_id=client.clinic_id, therapist=to_therapist)
    with transaction.atomic():
        locked = Client.objects.select_for_update().get(pk=client.pk)
        if locked.primary_therapist_id == to_therapist.pk:
            raise ValidationError(
                {
                    "to_therapist": _("%(name)s is already the primary therapist.")
                    % {"name": to_therapist}
                }
            )
        transfer = ClientTransfer(
            client=locked,
            from_therapist_id=locked.primary_therapist_id,
            to_therapist=to_therapist,
            transferred_by=transferred_by,
            note=note.strip(),
        )
        transfer.full_clean()
        transfer.save()
        locked.primary_therapist = to_therapist
        locked.save(update_fields=["primary_therapist", "updated_at"])
    client.primary_therapist = to_therapist
    return transfer


# --- people and roles --------------------------------------------------------------------


def user_create(
    *,
    clinic: Clinic,
    username: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    is_therapist: bool = False,
    is_supervisor: bool = False,
    is_clinic_admin: bool = False,
) -> User:
    """Add a person to the clinic. They have no password until they open their set-password
    link (user_password_link): nobody else ever knows it."""
    user = User(
        clinic=clinic,
        username=username.strip(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip(),
        is_therapist=is_therapist,
        is_supervisor=is_supervisor,
        is_clinic_admin=is_clinic_admin,
    )
    user.set_unusable_password()
    user.full_clean()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise ValidationError(
            {"username": _("A user with that username already exists.")}
        ) from None
    return user


def user_update(
    *,
    user: User,
    changed_by: User,
    first_name: str,
    last_name: str,
    email: str,
    is_therapist: bool,
    is_supervisor: bool,
    is_clinic_admin: bool,
) -> User:
    """Change a person's name, email and roles. Admins cannot drop their own admin role."""
    if user.pk == changed_by.pk and not is_clinic_admin:
        raise ValidationError(
            {"is_clinic_admin": _("You cannot remove your own clinic-admin role.")}
        )
    values = {
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "email": email.strip(),
        "is_therapist": is_therapist,
        "is_supervisor": is_supervisor,
        "is_clinic_admin": is_clinic_admin,
    }
    for name, value in values.items():
        setattr(user, name, value)
    user.full_clean(exclude=["password"])
    user.save(update_fields=list(values))
    return user


def user_sessions_end(*, user: User) -> int:
    """Log the user out everywhere: delete their login sessions and revoke their API tokens.
    Returns how many login sessions ended.

    Sessions are read and decoded rather than tracked at login: this also finds sessions
    created before any tracking and keys rotated after login. It runs on a rare admin
    action, over unexpired sessions only.
    """
    user_pk = user._meta.pk.value_to_string(user)
    keys = [
        session.session_key
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get(SESSION_KEY) == user_pk
    ]
    Session.objects.filter(session_key__in=keys).delete()
    Token.objects.filter(user=user).delete()
    return len(keys)


def user_deactivate(*, user: User, changed_by: User) -> int:
    """Stop someone signing in and end their open sessions now. Returns sessions ended.

    Their records (clients, sessions, ratings) stay; transfer their clients separately.
    """
    if user.pk == changed_by.pk:
        raise ValidationError(_("You cannot deactivate your own account."))
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        return user_sessions_end(user=user)


def user_reactivate(*, user: User) -> User:
    user.is_active = True
    user.save(update_fields=["is_active"])
    return user


def user_password_reset(*, user: User, changed_by: User) -> int:
    """Remove a person's password and end their sessions, so they set a new one through a
    fresh set-password link. Returns sessions ended."""
    if user.pk == changed_by.pk:
        raise ValidationError(_("Change your own password from the Password page."))
    with transaction.atomic():
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return user_sessions_end(user=user)


def user_password_link(*, user: User) -> str:
    """The path of a one-time link where the user chooses their password.

    Valid for settings.PASSWORD_RESET_TIMEOUT and only until a password is set.
    """
    return reverse(
        "password_set",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )


# --- supervision -------------------------------------------------------------------------


def supervision_add(*, supervisor: User, therapist: User) -> Supervision:
    """Link a supervisor to a therapist of the same clinic."""
    errors = {}
    if not (supervisor.is_supervisor and supervisor.is_active):
        errors["supervisor"] = _("Choose an active person with the supervisor role.")
    if not (therapist.is_therapist and therapist.is_active):
        errors["therapist"] = _("Choose an active person with the therapist role.")
    if errors:
        raise ValidationError(errors)
    duplicate = ValidationError(
        _("%(supervisor)s already supervises %(therapist)s.")
        % {"supervisor": supervisor, "therapist": therapist}
    )
    if Supervision.objects.filter(supervisor=supervisor, therapist=therapist).exists():
        raise duplicate
    supervision = Supervision(supervisor=supervisor, therapist=therapist)
    supervision.full_clean()
    try:
        with transaction.atomic():
            supervision.save()
    except IntegrityError:
        raise duplicate from None
    return supervision


def supervision_remove(*, supervision: Supervision) -> None:
    supervision.delete()
