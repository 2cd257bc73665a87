"""Reads for clients: who may change what, the caseload's columns, the queue's ranking
input and a client's transfers. Every selector starts from the user's scope."""

import datetime as dt
import re
from dataclasses import dataclass

from django.db.models import (
    Count,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from alliance.models import Client, Clinic, Episode, User
from measures.models import Rater, ScaleScore
from sessions.models import TherapySession

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


def _sql_sort(value: str | None) -> str:
    """The SQL sort asked for if it is one we offer, else the default (bad input is
    ignored). The pages' sort, risk included, is ``alliance.dashboards.caseload_sort``."""
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
    sort = _sql_sort(sort)
    field = F(CASELOAD_SORTS[sort.removeprefix("-")])
    order = field.desc(nulls_last=True) if sort.startswith("-") else field.asc(nulls_last=True)
    if sort == DEFAULT_SORT:
        return annotate_alliance(clients).order_by(
            order, F("latest_client_total").asc(nulls_last=True), "code"
        )
    return annotate_alliance(clients).order_by(order, "code", "pk")


@dataclass(frozen=True)
class RankingRow:
    pk: int
    code: str
    therapist_id: int  # the primary therapist
    latest_client_total: float | None
    sessions_since_client_form: int


def queue_clients(viewer: User, therapist_ids: list[int]) -> QuerySet[Client]:
    """The active clients in the viewer's scope whose primary therapist is one of these: a
    supervision queue."""
    return Client.objects.visible_to(viewer).active().filter(primary_therapist__in=therapist_ids)


def queue_ranking(viewer: User, therapist_ids: list[int]) -> list[RankingRow]:
    """What the risk ranking reads of every client of the queue (``queue_clients``; its
    rows' other caseload columns are read for the rows shown, with ``caseload_for``): the
    latest client total, sessions since the last client form. One query, a few index
    lookups per client."""
    rows = (
        queue_clients(viewer, therapist_ids)
        .annotate(
            latest_client_total=_latest_client_total(),
            sessions_since_client_form=_sessions_since_client_form(),
        )
        .values(
            "pk",
            "code",
            "primary_therapist_id",
            "latest_client_total",
            "sessions_since_client_form",
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
        )
        for row in rows
    ]


def client_transfers(client: Client):
    return client.transfers.select_related("from_therapist", "to_therapist", "transferred_by")


def annotate_latest_client_total(clients: QuerySet[Client]) -> QuerySet[Client]:
    return clients.annotate(latest_client_total=_latest_client_total())


def annotate_sessions_since_client_form(clients: QuerySet[Client]) -> QuerySet[Client]:
    return clients.annotate(sessions_since_client_form=_sessions_since_client_form())
