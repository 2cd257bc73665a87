"""Reads for rupture flags and episodes: the engine's input (the scores frame), the clinic's
rule config and norms, who may act on an episode, and the episodes a page shows. Every
selector starts from the user's scope."""

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.db.models import (
    Case,
    F,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.functions import RowNumber
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from alliance.analytics import RULE_NAMES, clinic_norms, validate_config
from alliance.analytics.config import TENSION_SCALE
from alliance.clients.selectors import client_may_add_session
from alliance.models import Client, Clinic, Episode, EpisodeComment, Flag, Supervision, User
from measures.models import Rater, ScaleScore
from measures.selectors import instrument_definition, instruments_for, rating_tension_addressed
from sessions.models import TherapySession

logger = logging.getLogger(__name__)


def client_episodes(user: User, client: Client) -> QuerySet[Episode]:
    """The client's active episodes with their active flags and comments: open and
    acknowledged ones by session, newest first, then the resolved ones."""
    resolved_last = Case(When(status=Episode.Status.RESOLVED, then=Value(1)), default=Value(0))
    # Each episode's client is this one (its related manager gives it), not joined again:
    # three joins fewer for the planner of the client page's widest query.
    return _episode_details(client.episodes.visible_to(user).active()).order_by(
        resolved_last, "-session__starts_at", "-session__number", "kind"
    )


# Reading scores for the rupture engine (alliance.analytics) and reading flags for pages.

SCORES_COLUMNS = ["client", "rater", "scale", "session", "score", "number"]
# Only sessions that took place are positions of the engine's series (docs/ruptures.md):
# cancelled, no-show and still-scheduled sessions give it no rows at all.
HELD = TherapySession.Status.COMPLETED
NOT_HELD = (TherapySession.Status.CANCELLED, TherapySession.Status.NO_SHOW)


@dataclass
class ScoresFrame:
    """The engine's input for some clients, and the sessions its positions stand for."""

    scores: pd.DataFrame  # columns SCORES_COLUMNS, as alliance.analytics.detect reads them
    session_ids: dict[tuple[int, int], int]  # (client id, position) -> session id


def client_scores_frame(client: Client) -> ScoresFrame:
    """One client's scores frame (``scores_frame``): one query."""
    return scores_frame(Client.objects.filter(pk=client.pk))


def scores_frame(clients: QuerySet[Client]) -> ScoresFrame:
    """The scores frame of these clients (one client or a whole clinic), in one SQL query.

    Positions are the clients' held (completed) sessions ranked by when they took place
    (``starts_at``, then number); column ``session`` is the position and ``number`` the
    session's number, which explanations show. Rows: every scale score of every rating
    (rater client/therapist) at its position; the client form's tension item as scale
    "tension", score 1 (yes) or 0 (no); and a NaN client "total" row for each held session
    without a client form, so missing_forms and the repair windows see it. Cancelled,
    no-show and scheduled sessions give no rows. If a session holds two ratings by the same
    rater (the clinic changed instruments in between), the one stored last counts. See
    docs/ruptures.md, "Input: the scores frame".
    """
    rows = (
        TherapySession.objects.filter(client__in=clients, status=HELD)
        .values_list(*SCORES_QUERY_FIELDS)
        .order_by()
    )
    return scores_frame_from_rows(list(rows))


# One row per held session, rating and scale score (None where there is none), as
# scores_frame reads them.
SCORES_QUERY_FIELDS = (
    "client_id",
    "number",
    "pk",
    "status",
    "starts_at",
    "ratings__pk",
    "ratings__rater",
    "ratings__tension",
    "ratings__scores__scale",
    "ratings__scores__score",
)


def scores_frame_from_rows(rows: list[tuple]) -> ScoresFrame:
    """The scores frame (as ``scores_frame`` describes it) from the query's rows, each
    ``(client id, session number, session id, status, starts_at, rating id, rater, tension,
    scale, score)`` in SCORES_QUERY_FIELDS order, the rating fields None for a session
    without one. Rows of sessions that were not held are skipped.

    Built in plain Python and made a DataFrame once at the end: for one client (a form
    saved, a client's chart) pandas' per-call overhead cost more than the work itself.
    Rows come in the query's order: scale scores, then tension by rating id, then the
    missing client forms; the engine sorts what it needs.
    """
    rows = [row for row in rows if row[3] == HELD]
    held: dict[int, tuple] = {}  # session id -> (client, starts_at, number)
    for client, number, session_id, _status, starts_at, *_rating in rows:
        held.setdefault(session_id, (client, starts_at, number))
    # Position: the session's rank among its client's held sessions, by date, then number.
    position: dict[int, int] = {}  # session id -> position
    session_ids: dict[tuple[int, int], int] = {}
    rank, previous = 0, None
    for session_id, (client, _starts_at, _number) in sorted(held.items(), key=lambda i: i[1]):
        rank = rank + 1 if client == previous else 1
        previous = client
        position[session_id] = rank
        session_ids[(client, rank)] = session_id
    ratings: dict[int, tuple] = {}  # rating id -> (client, session id, rater, tension)
    latest: dict[tuple[int, str], int] = {}  # (session id, rater) -> rating id
    for client, _number, session_id, _status, _at, rating, rater, tension, _scale, _score in rows:
        if rating is not None:
            ratings.setdefault(rating, (client, session_id, rater, tension))
            # One rating per session and rater: the last stored (the highest id).
            if latest.setdefault((session_id, rater), rating) < rating:
                latest[(session_id, rater)] = rating
    kept = set(latest.values())
    columns: tuple[list, ...] = ([], [], [], [], [], [])  # SCORES_COLUMNS

    def add(client: int, rater: str, scale: str, session_id: int, score: float) -> None:
        row = (client, rater, scale, position[session_id], score, held[session_id][2])
        for column, value in zip(columns, row, strict=True):
            column.append(value)

    for client, _number, session_id, _status, _at, rating, rater, _tension, scale, score in rows:
        if rating in kept and scale is not None:
            add(client, rater, scale, session_id, np.nan if score is None else score)
    for rating in sorted(kept):
        client, session_id, rater, tension = ratings[rating]
        if rater == Rater.CLIENT and tension is not None:
            add(client, Rater.CLIENT.value, TENSION_SCALE, session_id, float(tension))
    with_client_form = {session_id for session_id, rater in latest if rater == Rater.CLIENT}
    for session_id, (client, _starts_at, _number) in held.items():
        if session_id not in with_client_form:
            add(client, Rater.CLIENT.value, "total", session_id, np.nan)
    clients, raters, scales, positions, values, numbers = columns
    # A few labels repeated on every row: as categories they take a sixth of the memory and
    # the engine groups them faster (the same flags; docs/deployment.md has the figures).
    scores = pd.DataFrame(
        {
            # No rows: an object column, as pandas gives an empty frame's columns.
            "client": np.array(clients, dtype="int64" if clients else object),
            "rater": pd.Categorical(raters),
            "scale": pd.Categorical(scales),
            "session": np.array(positions, dtype="int64"),
            "score": np.array(values, dtype="float64"),
            "number": np.array(numbers, dtype="int64"),
        }
    )
    return ScoresFrame(scores=scores, session_ids=session_ids)


def clinic_norms_frame(clinic: Clinic) -> pd.DataFrame:
    """The first two present scores of each client, rater and scale in the clinic: all that
    alliance.analytics.clinic_norms reads, in one query (a window function keeps it small)."""
    position = Window(
        RowNumber(),
        partition_by=[F("rating__session__client_id"), F("rating__rater"), F("scale")],
        order_by=[
            F("rating__session__starts_at").asc(),
            F("rating__session__number").asc(),
            F("rating_id").desc(),
        ],
    )
    rows = (
        ScaleScore.objects.filter(
            rating__session__client__clinic=clinic,
            rating__session__status=HELD,
            score__isnull=False,
        )
        .annotate(position=position)
        .filter(position__lte=2)
        .values_list(
            "rating__session__client_id",
            "rating__rater",
            "scale",
            # The rank among these scores keeps their order, all clinic_norms reads.
            "position",
            "score",
            "rating__session__number",
        )
        .order_by()
    )
    return pd.DataFrame.from_records(list(rows), columns=SCORES_COLUMNS)


# Clinic norms need this many clients with two scores on a scale (docs/ruptures.md, Norms).
CLINIC_NORMS_MIN_CLIENTS = 30
# Clinic norms change slowly: a single client's refresh reuses them for this long.
CLINIC_NORMS_CACHE_SECONDS = 60 * 60
INSTRUMENT_NORMS_SOURCE = "instrument norms"


def clinic_norms_for(clinic: Clinic, *, refresh: bool = False) -> dict:
    """SD and reliability from the clinic's own data, ``{rater: {scale: {...}}}`` with
    ``{}`` where the data are not enough (fewer than 30 clients with two scores).

    Cached per clinic for an hour so that a single client's refresh (after every rating)
    does not read the whole clinic; ``refresh=True`` (the refresh_flags command) recomputes
    and stores them. On a cache miss they are recomputed, so the norms a refresh uses never
    depend on whether the cache is warm. The key includes the clinic's creation time: a
    reused primary key (a test database) never picks up another clinic's norms.
    """
    key = f"alliance:clinic-norms:{clinic.pk}:{clinic.created_at.timestamp()}"
    norms = None if refresh else cache.get(key)
    if norms is None:
        norms = {}
        if Client.objects.filter(clinic=clinic).count() >= CLINIC_NORMS_MIN_CLIENTS:
            norms = clinic_norms(clinic_norms_frame(clinic), min_clients=CLINIC_NORMS_MIN_CLIENTS)
        cache.set(key, norms, CLINIC_NORMS_CACHE_SECONDS)
    return norms


def instrument_rule_data(clinic: Clinic) -> dict:
    """The config's data keys from the clinic's instruments: ``norms`` (source "instrument
    norms"), ``scale_range`` (of the total, else the first scale) and ``cutoffs``."""
    data: dict[str, dict] = {"norms": {}, "scale_range": {}, "cutoffs": {}}
    for rater, instrument in instruments_for(clinic=clinic).items():
        definition = instrument_definition(instrument)
        data["norms"][rater] = {
            scale: {
                "sd": norm.sd,
                "reliability": norm.reliability,
                "source": INSTRUMENT_NORMS_SOURCE,
            }
            for scale, norm in definition.norms.items()
        }
        keys = [scale.key for scale in definition.scales]
        low, high = definition.scale_range("total" if "total" in keys else keys[0])
        data["scale_range"][rater] = {"min": float(low), "max": float(high)}
        data["cutoffs"][rater] = {
            scale: cutoff.below for scale, cutoff in definition.cutoffs.items()
        }
    return data


def flag_config_for_clinic(clinic: Clinic, *, clinic_norms: dict | None = None) -> dict:
    """The rupture engine's config for a clinic, validated: the clinic's rule settings over
    the documented defaults, plus norms, scale ranges and cutoffs from its instruments.

    Norms come from the clinic's own data where it has enough (``clinic_norms_for``; pass
    ``clinic_norms`` to reuse them across a batch) and from the instrument otherwise; each
    flag's explanation names which. Stored settings that no longer validate (edited by hand
    in the Django admin) are logged and replaced by the defaults: saving a rating must never
    fail because of them.
    """
    data = instrument_rule_data(clinic)
    own = clinic_norms_for(clinic) if clinic_norms is None else clinic_norms
    for rater, scales in own.items():
        for scale, entry in scales.items():
            if entry:
                data["norms"].setdefault(rater, {})[scale] = entry
    settings = {
        rule: params for rule, params in (clinic.rule_settings or {}).items() if rule in RULE_NAMES
    }
    try:
        return validate_config({**settings, **data})
    except ValueError:
        logger.exception("Clinic %s: invalid rule settings ignored, using the defaults", clinic.pk)
        return validate_config(data)


def flag_may_act(user: User, client: Client) -> bool:
    """A therapist of the client (primary, or who has held a session with them) acknowledges
    and resolves the client's flags. Supervisors and clinic admins read them."""
    return client_may_add_session(user, client)


def flag_may_comment(user: User, client: Client) -> bool:
    """A therapist of the client, or a supervisor of one of the client's therapists."""
    if flag_may_act(user, client):
        return True
    if not (user.is_active and user.is_supervisor and user.clinic_id == client.clinic_id):
        return False
    treating = Q(therapist_id=client.primary_therapist_id) | Q(
        therapist__therapy_sessions__client=client
    )
    return Supervision.objects.filter(treating, supervisor=user).exists()


def _episodes_with_details(episodes: QuerySet[Episode]) -> QuerySet[Episode]:
    """Episodes with what their pages show: their client (with clinic and primary
    therapist), sessions, people, flags and comments (3 queries)."""
    return _episode_details(episodes).select_related("client__clinic", "client__primary_therapist")


def _episode_details(episodes: QuerySet[Episode]) -> QuerySet[Episode]:
    """Episodes with their sessions, people, flags and comments (3 queries); their client
    is read apart (``_episodes_with_details``) or already known."""
    return episodes.select_related(
        "session",
        "last_session",
        "repaired_session",
        "action_session",
        "acknowledged_by",
        "resolved_by",
    ).prefetch_related(_active_flags(), _comments_with_authors())


def _active_flags() -> Prefetch:
    """An episode's active flags, the evidence in reading order (client before therapist,
    the total first), with their sessions."""
    total_first = Case(When(scale="total", then=Value(0)), default=Value(1))
    flags = (
        Flag.objects.active()
        .select_related("session", "repaired_session")
        .order_by("session__starts_at", "session__number", "rater", total_first, "scale", "rule")
    )
    return Prefetch("flags", queryset=flags, to_attr="evidence")


def _comments_with_authors() -> Prefetch:
    return Prefetch("comments", queryset=EpisodeComment.objects.select_related("author"))


def episodes_with_details(user: User) -> QuerySet[Episode]:
    """The episodes in the user's scope (retired ones too) with what the API shows of each:
    sessions, people, active flags (``evidence``) and comments."""
    return _episodes_with_details(Episode.objects.visible_to(user))


def episode_get(user: User, episode_id: int) -> Episode:
    """One episode within the user's scope (retired ones too), with its flags and comments,
    else 404."""
    return get_object_or_404(
        _episodes_with_details(Episode.objects.visible_to(user)), pk=episode_id
    )


def episode_get_for_action(user: User, episode_id: int) -> Episode:
    """An episode the user may acknowledge and resolve, else 404 (seeing is not enough)."""
    episode = episode_get(user, episode_id)
    if not flag_may_act(user, episode.client):
        raise Http404("No flag you may act on matches the given query.")
    return episode


def episode_get_for_comment(user: User, episode_id: int) -> Episode:
    episode = episode_get(user, episode_id)
    if not flag_may_comment(user, episode.client):
        raise Http404("No flag you may comment on matches the given query.")
    return episode


def flag_episode_id(user: User, flag_id: int) -> int:
    """The episode of one flag within the user's scope, else 404 (old links to a flag)."""
    flags = Flag.objects.visible_to(user).filter(pk=flag_id)
    return get_object_or_404(flags.values_list("episode_id", flat=True))


@dataclass(frozen=True)
class ClientReport:
    """What the client wrote with a tension report: their comment and how well they said
    the tension was addressed (the answer's label), each empty when not given."""

    comment: str
    addressed: str


def flag_client_report(flag: Flag, *, language: str) -> ClientReport | None:
    """For a tension flag, the client's own words from that session's client rating (the last
    stored, as the scores frame counts it); None for other rules, whose size says more."""
    if flag.rule != Flag.Rule.CLIENT_REPORTED_TENSION:
        return None
    rating = (
        flag.session.ratings.filter(rater=Rater.CLIENT)
        .select_related("instrument")
        .order_by("-pk")
        .first()
    )
    if rating is None:
        return ClientReport(comment="", addressed="")
    return ClientReport(
        comment=rating.comment, addressed=rating_tension_addressed(rating, language)
    )


def flag_action_sessions(client: Client) -> QuerySet[TherapySession]:
    """The sessions a repair can be recorded at: the client's held sessions (completed and
    already begun; a repair cannot have happened at a session still to come), latest first."""
    return client.sessions.filter(
        status=TherapySession.Status.COMPLETED, starts_at__lte=timezone.now()
    ).order_by("-starts_at", "-number")


def clinic_rule_scales(clinic: Clinic) -> dict[str, list[str]]:
    """The scale keys of the clinic's client and therapist instruments, by rater."""
    return {
        rater: [scale.key for scale in instrument_definition(instrument).scales]
        for rater, instrument in instruments_for(clinic=clinic).items()
    }


def clinic_rule_settings(clinic: Clinic) -> dict:
    """The clinic's rule settings merged over the defaults (the defaults if they are invalid)."""
    settings = {
        rule: params for rule, params in (clinic.rule_settings or {}).items() if rule in RULE_NAMES
    }
    try:
        merged = validate_config(settings)
    except ValueError:
        merged = validate_config({})
    return {rule: merged[rule] for rule in RULE_NAMES}
