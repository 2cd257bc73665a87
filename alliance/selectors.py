"""Reads for pages and endpoints. Every selector starts from the user's scope."""

import datetime as dt
import logging
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from alliance.analytics import RULE_NAMES, clinic_norms, validate_config
from alliance.analytics.config import TENSION_SCALE
from alliance.models import Client, Clinic, Episode, EpisodeComment, Flag, Supervision, User
from measures.models import Rater, ScaleScore
from measures.selectors import instrument_definition, instruments_for, rating_tension_addressed
from sessions.models import TherapySession

logger = logging.getLogger(__name__)

# --- who may change what -----------------------------------------------------------------
# Seeing is decided by Client.objects.visible_to; changing by the helpers below. A user who
# may see an object but not change it gets 404 on every write, like an outsider.


def client_may_change(user: User, client: Client) -> bool:
    """The client's primary therapist, or a clinic admin of the client's clinic."""
    if not (user.is_active and user.clinic_id == client.clinic_id):
        return False
    return (user.is_therapist and client.primary_therapist_id == user.pk) or user.is_clinic_admin


def client_may_add_session(user: User, client: Client) -> bool:
    """Therapists who treat the client (primary, or who have held a session with them)."""
    if not (user.is_active and user.is_therapist and user.clinic_id == client.clinic_id):
        return False
    if client.primary_therapist_id == user.pk:
        return True
    return client.sessions.filter(therapist=user).exists()


def client_may_transfer(user: User, client: Client) -> bool:
    return user.is_active and user.is_clinic_admin and user.clinic_id == client.clinic_id


def client_get(user: User, client_id: int) -> Client:
    """One client within the user's scope, else 404."""
    return get_object_or_404(
        Client.objects.visible_to(user).select_related("primary_therapist", "clinic"),
        pk=client_id,
    )


def client_get_for_change(user: User, client_id: int) -> Client:
    """One client the user may change, else 404 (seeing is not enough to write)."""
    client = client_get(user, client_id)
    if not client_may_change(user, client):
        raise Http404("No client you may change matches the given query.")
    return client


def client_code_suggest(clinic: Clinic) -> str:
    """The clinic's next pseudonymous client code: its initial and a sequence, e.g. "R-0042"."""
    initial = next((c for c in clinic.name.upper() if c.isascii() and c.isalpha()), "C")
    pattern = re.compile(rf"^{initial}-(\d+)$")
    codes = Client.objects.filter(clinic=clinic, code__startswith=f"{initial}-").values_list(
        "code", flat=True
    )
    numbers = [int(m.group(1)) for code in codes if (m := pattern.match(code))]
    return f"{initial}-{max(numbers, default=0) + 1:04d}"


# --- caseload ----------------------------------------------------------------------------


def _latest_therapist_total(offset: int = 0) -> Subquery:
    """A client's scored therapist-rated total, the most recent by session number (offset
    1: the one before it)."""
    scores = ScaleScore.objects.filter(
        rating__session__client=OuterRef("pk"),
        rating__rater=Rater.THERAPIST,
        scale="total",
        score__isnull=False,
    ).order_by("-rating__session__number", "-rating_id")
    return Subquery(scores.values("score")[offset : offset + 1])


def _latest_client_total(offset: int = 0) -> Subquery:
    """A client's scored client-rated total, the most recent by session number (offset 1:
    the one before it), from the sessions' stored client totals (the form stored last)."""
    sessions = TherapySession.objects.filter(
        client=OuterRef("pk"), client_total__isnull=False
    ).order_by("-number")
    return Subquery(sessions.values("client_total")[offset : offset + 1])


def _sessions_since_client_form() -> Coalesce:
    """A client's completed sessions after the last one with a client form (all of them
    when there is none)."""
    last_form_number = (
        TherapySession.objects.filter(client=OuterRef(OuterRef("pk")), client_form=True)
        .order_by("-number")
        .values("number")[:1]
    )
    since_form = TherapySession.objects.completed().filter(
        client=OuterRef("pk"), number__gt=Coalesce(Subquery(last_form_number), Value(0))
    )
    return _count(since_form, "client")


def _count(queryset: QuerySet, outer_field: str) -> Coalesce:
    """COUNT(*) of a correlated subquery, grouped by the outer reference; 0 when none."""
    counted = queryset.order_by().values(outer_field).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def annotate_alliance(clients: QuerySet[Client], *, now: dt.datetime | None = None):
    """Add the caseload columns to a client queryset, all as subqueries of one SQL query.

    latest_/previous_client_total and _therapist_total (by session number), open_episodes
    (not yet acknowledged), sessions_since_client_form (completed sessions after the last one
    with a client form), next_session_at (the next scheduled session) and last_session_at
    (the last completed one); client_change and therapist_change (latest minus previous)
    only as aliases to sort by (``dashboards.CaseloadRow`` has their values).
    """
    now = now or timezone.now()
    next_session = TherapySession.objects.filter(
        client=OuterRef("pk"), status=TherapySession.Status.SCHEDULED, starts_at__gte=now
    ).order_by("starts_at")
    last_session = (
        TherapySession.objects.completed().filter(client=OuterRef("pk")).order_by("-starts_at")
    )
    return clients.annotate(
        latest_client_total=_latest_client_total(),
        previous_client_total=_latest_client_total(offset=1),
        latest_therapist_total=_latest_therapist_total(),
        previous_therapist_total=_latest_therapist_total(offset=1),
        open_episodes=_count(Episode.objects.open().filter(client=OuterRef("pk")), "client"),
        sessions_since_client_form=_sessions_since_client_form(),
        next_session_at=Subquery(next_session.values("starts_at")[:1]),
        last_session_at=Subquery(last_session.values("starts_at")[:1]),
    ).alias(**CHANGES)


# Latest minus previous total, for sorting only: as SQL these repeat the four total
# subqueries for every row, so the rows compute them from the totals they read
# (alliance.dashboards.CaseloadRow).
CHANGES = {
    "client_change": F("latest_client_total") - F("previous_client_total"),
    "therapist_change": F("latest_therapist_total") - F("previous_therapist_total"),
}


# Sort keys a page may ask for (``?sort=key`` or ``?sort=-key``) and what they order by.
CASELOAD_SORTS = {
    "code": "code",
    "therapist": "primary_therapist__last_name",
    "client_alliance": "latest_client_total",
    "therapist_alliance": "latest_therapist_total",
    "client_change": "client_change",
    "therapist_change": "therapist_change",
    "open_episodes": "open_episodes",
    "since_form": "sessions_since_client_form",
    "next_session": "next_session_at",
    "last_session": "last_session_at",
}
# Most in need of attention first: open episodes, then the lowest client alliance.
DEFAULT_SORT = "-open_episodes"


def caseload_sort(value: str | None) -> str:
    """The sort asked for if it is one we offer, else the default (bad input is ignored)."""
    if value and value.removeprefix("-") in CASELOAD_SORTS:
        return value
    return DEFAULT_SORT


def caseload_for(
    viewer: User,
    *,
    therapist: User | None = None,
    search: str = "",
    sort: str = DEFAULT_SORT,
    include_discharged: bool = False,
) -> QuerySet[Client]:
    """Clients the viewer may see with the caseload columns, in one SQL query.

    ``therapist``: only that therapist's primary clients (their caseload); None: every
    client in the viewer's scope. ``search`` matches the client code (case-insensitive).
    """
    clients = Client.objects.visible_to(viewer).select_related("primary_therapist")
    if therapist is not None:
        clients = clients.filter(primary_therapist=therapist)
    if not include_discharged:
        clients = clients.active()
    if search:
        clients = clients.filter(code__icontains=search)
    sort = caseload_sort(sort)
    field = F(CASELOAD_SORTS[sort.removeprefix("-")])
    order = field.desc(nulls_last=True) if sort.startswith("-") else field.asc(nulls_last=True)
    if sort == DEFAULT_SORT:
        return annotate_alliance(clients).order_by(
            order, F("latest_client_total").asc(nulls_last=True), "code"
        )
    return annotate_alliance(clients).order_by(order, "code", "pk")


def _completed_session_total(offset: int) -> Subquery:
    """The client-rated total of a client's completed session ``offset`` places before the
    last one (0: the last), None when that session has no scored client form or there is
    none."""
    sessions = TherapySession.objects.completed().filter(client=OuterRef("pk")).order_by("-number")
    return Subquery(sessions.values("client_total")[offset : offset + 1])


@dataclass(frozen=True)
class RankingRow:
    pk: int
    code: str
    therapist_id: int  # the primary therapist
    latest_client_total: float | None
    sessions_since_client_form: int
    recent_totals: list[float | None]  # the last completed sessions' client totals, oldest first


def queue_ranking(viewer: User, therapist_ids: list[int], *, sessions: int) -> list[RankingRow]:
    """What the risk ranking reads of every active client in the viewer's scope whose
    primary therapist is one of these (a supervision queue; its rows' other caseload columns
    are read for the rows shown, with ``caseload_for``): the latest client total, sessions
    since the last client form and the client totals of the last ``sessions`` completed
    sessions. One query, a few index lookups per client."""
    recent = {f"recent_{n}": _completed_session_total(n) for n in range(sessions)}
    rows = (
        Client.objects.visible_to(viewer)
        .active()
        .filter(primary_therapist__in=therapist_ids)
        .annotate(
            latest_client_total=_latest_client_total(),
            sessions_since_client_form=_sessions_since_client_form(),
            **recent,
        )
        .values(
            "pk",
            "code",
            "primary_therapist_id",
            "latest_client_total",
            "sessions_since_client_form",
            *recent,
        )
        .order_by()
    )
    return [
        RankingRow(
            pk=row["pk"],
            code=row["code"],
            therapist_id=row["primary_therapist_id"],
            latest_client_total=row["latest_client_total"],
            sessions_since_client_form=row["sessions_since_client_form"],
            recent_totals=[row[f"recent_{n}"] for n in reversed(range(sessions))],
        )
        for row in rows
    ]


# --- supervision -------------------------------------------------------------------------


# A therapist summary's client-form completion covers this many days.
COMPLETION_DAYS = 30


@dataclass
class TherapistSummary:
    therapist: User
    active_clients: int = 0
    mean_client_alliance: float | None = None
    completed_30d: int = 0
    with_client_form_30d: int = 0
    open_episodes: int = 0

    @property
    def client_form_rate(self) -> float | None:
        """Share of the last COMPLETION_DAYS days' completed sessions that have a client
        form."""
        if not self.completed_30d:
            return None
        return self.with_client_form_30d / self.completed_30d


def supervisees_of(supervisor: User) -> QuerySet[User]:
    """The therapists a supervisor supervises, in their clinic (none without the role)."""
    if not (supervisor.is_active and supervisor.is_supervisor and supervisor.clinic_id):
        return User.objects.none()
    return User.objects.filter(
        supervised_by__supervisor=supervisor, clinic_id=supervisor.clinic_id
    ).order_by("last_name", "first_name", "username")


def supervisee_get(viewer: User, therapist_id: int) -> User:
    """A therapist whose caseload the viewer may open: a supervisee, or anyone in the
    clinic for a clinic admin; else 404."""
    if viewer.is_active and viewer.is_clinic_admin and viewer.clinic_id:
        therapists = User.objects.filter(clinic_id=viewer.clinic_id, is_therapist=True)
    else:
        therapists = supervisees_of(viewer)
    return get_object_or_404(therapists, pk=therapist_id)


def therapist_summaries(
    viewer: User,
    therapists: list[User],
    *,
    now: dt.datetime | None = None,
    ranking: list[RankingRow] | None = None,
    completion: dict[int, tuple[int, int]] | None = None,
) -> list[TherapistSummary]:
    """Per-therapist figures over the viewer's scope, in three aggregate queries.

    Active clients and the mean of their latest client totals; completed sessions in the
    last COMPLETION_DAYS days and how many have a client form; open flags on their primary
    clients. What the caller has read already (the supervision dashboard) saves a query
    each: ``ranking``, these therapists' ``queue_ranking`` rows (the active clients and
    their latest totals); ``completion``, ``completion_by_therapist`` over the
    COMPLETION_DAYS days up to ``now``.
    """
    now = now or timezone.now()
    summaries = {t.pk: TherapistSummary(therapist=t) for t in therapists}
    if not summaries:
        return []
    ids = list(summaries)
    visible = Client.objects.visible_to(viewer)

    totals: dict[int, list[float]] = defaultdict(list)
    if ranking is not None:
        clients = [(row.therapist_id, row.latest_client_total) for row in ranking]
    else:
        clients = (
            annotate_latest_client_total(visible.active().filter(primary_therapist__in=ids))
            .values_list("primary_therapist_id", "latest_client_total")
            .order_by()
        )
    for therapist_id, latest in clients:
        summaries[therapist_id].active_clients += 1
        if latest is not None:
            totals[therapist_id].append(latest)
    for therapist_id, values in totals.items():
        summaries[therapist_id].mean_client_alliance = sum(values) / len(values)

    if completion is None:
        start = now - dt.timedelta(days=COMPLETION_DAYS)
        completion = completion_by_therapist(viewer, ids, start=start, end=now)
    for therapist_id, (total, with_form) in completion.items():
        summaries[therapist_id].completed_30d = total
        summaries[therapist_id].with_client_form_30d = with_form

    episodes = (
        Episode.objects.open()
        .filter(client__in=visible.filter(primary_therapist__in=ids))
        .values("client__primary_therapist_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in episodes:
        summaries[row["client__primary_therapist_id"]].open_episodes = row["n"]
    return list(summaries.values())


def completion_by_therapist(
    viewer: User, therapist_ids: list[int] | None, *, start: dt.datetime, end: dt.datetime
) -> dict[int, tuple[int, int]]:
    """Therapist id -> (completed sessions held in [start, end) with clients the viewer may
    see, how many have a client form), by the therapist who held the session. None: every
    therapist. One query."""
    sessions = TherapySession.objects.completed().filter(
        client__in=Client.objects.visible_to(viewer), starts_at__gte=start, starts_at__lt=end
    )
    if therapist_ids is not None:
        sessions = sessions.filter(therapist_id__in=therapist_ids)
    rows = (
        sessions.values("therapist_id")
        .annotate(total=Count("pk"), with_form=Count("pk", filter=Q(client_form=True)))
        .order_by()
    )
    return {row["therapist_id"]: (row["total"], row["with_form"]) for row in rows}


def annotate_latest_client_total(clients: QuerySet[Client]) -> QuerySet[Client]:
    return clients.annotate(latest_client_total=_latest_client_total())


def annotate_sessions_since_client_form(clients: QuerySet[Client]) -> QuerySet[Client]:
    return clients.annotate(sessions_since_client_form=_sessions_since_client_form())


# --- client page -------------------------------------------------------------------------


def client_episodes(user: User, client: Client) -> QuerySet[Episode]:
    """The client's active episodes with their active flags and comments: open and
    acknowledged ones by session, newest first, then the resolved ones."""
    resolved_last = Case(When(status=Episode.Status.RESOLVED, then=Value(1)), default=Value(0))
    return (
        client.episodes.visible_to(user)
        .active()
        .select_related(
            "session",
            "last_session",
            "repaired_session",
            "action_session",
            "acknowledged_by",
            "resolved_by",
        )
        .prefetch_related(_active_flags(), _comments_with_authors())
        .order_by(resolved_last, "-session__starts_at", "-session__number", "kind")
    )


def client_transfers(client: Client):
    return client.transfers.select_related("from_therapist", "to_therapist", "transferred_by")


# --- clinic administration ---------------------------------------------------------------


def clinic_users(admin: User) -> QuerySet[User]:
    """Everyone in the clinic admin's clinic (none for anyone else)."""
    if not (admin.is_active and admin.is_clinic_admin and admin.clinic_id):
        return User.objects.none()
    return User.objects.filter(clinic_id=admin.clinic_id).order_by(
        "-is_active", "last_name", "first_name", "username"
    )


def clinic_user_get(admin: User, user_id: int) -> User:
    return get_object_or_404(clinic_users(admin), pk=user_id)


def clinic_supervisions(admin: User) -> QuerySet[Supervision]:
    if not (admin.is_active and admin.is_clinic_admin and admin.clinic_id):
        return Supervision.objects.none()
    return (
        Supervision.objects.filter(supervisor__clinic_id=admin.clinic_id)
        .select_related("supervisor", "therapist")
        .order_by("supervisor__last_name", "supervisor__username", "therapist__last_name")
    )


def clinic_therapists(clinic_id: int) -> QuerySet[User]:
    """Active therapists of a clinic, for choosing a primary therapist or a supervisee."""
    return User.objects.filter(clinic_id=clinic_id, is_therapist=True, is_active=True).order_by(
        "last_name", "first_name", "username"
    )


# --- flags -------------------------------------------------------------------------------
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
    """Episodes with what their pages show: sessions, people, flags and comments
    (3 queries)."""
    return episodes.select_related(
        "client__clinic",
        "client__primary_therapist",
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
