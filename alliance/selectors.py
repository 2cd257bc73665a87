"""Reads for pages and endpoints. Every selector starts from the user's scope."""

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from alliance.models import Client, Clinic, Flag, Supervision, User
from measures.models import Rater, Rating, ScaleScore
from sessions.models import TherapySession

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


def _latest_total(rater: str, offset: int = 0) -> Subquery:
    """A client's scored total for one rater, the most recent by session number (offset 1:
    the one before it)."""
    scores = ScaleScore.objects.filter(
        rating__session__client=OuterRef("pk"),
        rating__rater=rater,
        scale="total",
        score__isnull=False,
    ).order_by("-rating__session__number")
    return Subquery(scores.values("score")[offset : offset + 1])


def _count(queryset: QuerySet, outer_field: str) -> Coalesce:
    """COUNT(*) of a correlated subquery, grouped by the outer reference; 0 when none."""
    counted = queryset.order_by().values(outer_field).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def annotate_alliance(clients: QuerySet[Client], *, now: dt.datetime | None = None):
    """Add the caseload columns to a client queryset, all as subqueries of one SQL query.

    latest_/previous_client_total and _therapist_total (by session number), client_change
    and therapist_change (latest minus previous), open_flags, sessions_since_client_form
    (completed sessions after the last one with a client form), next_session_at (the next
    scheduled session) and last_session_at (the last completed one).
    """
    now = now or timezone.now()
    last_form_number = (
        Rating.objects.filter(session__client=OuterRef(OuterRef("pk")), rater=Rater.CLIENT)
        .order_by("-session__number")
        .values("session__number")[:1]
    )
    since_form = TherapySession.objects.completed().filter(
        client=OuterRef("pk"), number__gt=Coalesce(Subquery(last_form_number), Value(0))
    )
    next_session = TherapySession.objects.filter(
        client=OuterRef("pk"), status=TherapySession.Status.SCHEDULED, starts_at__gte=now
    ).order_by("starts_at")
    last_session = (
        TherapySession.objects.completed().filter(client=OuterRef("pk")).order_by("-starts_at")
    )
    return clients.annotate(
        latest_client_total=_latest_total(Rater.CLIENT),
        previous_client_total=_latest_total(Rater.CLIENT, offset=1),
        latest_therapist_total=_latest_total(Rater.THERAPIST),
        previous_therapist_total=_latest_total(Rater.THERAPIST, offset=1),
        open_flags=_count(Flag.objects.open().filter(client=OuterRef("pk")), "client"),
        sessions_since_client_form=_count(since_form, "client"),
        next_session_at=Subquery(next_session.values("starts_at")[:1]),
        last_session_at=Subquery(last_session.values("starts_at")[:1]),
    ).annotate(
        client_change=F("latest_client_total") - F("previous_client_total"),
        therapist_change=F("latest_therapist_total") - F("previous_therapist_total"),
    )


# Sort keys a page may ask for (``?sort=key`` or ``?sort=-key``) and what they order by.
CASELOAD_SORTS = {
    "code": "code",
    "therapist": "primary_therapist__last_name",
    "client_alliance": "latest_client_total",
    "therapist_alliance": "latest_therapist_total",
    "client_change": "client_change",
    "therapist_change": "therapist_change",
    "open_flags": "open_flags",
    "since_form": "sessions_since_client_form",
    "next_session": "next_session_at",
    "last_session": "last_session_at",
}
# Most in need of attention first: open flags, then the lowest client alliance.
DEFAULT_SORT = "-open_flags"


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


# --- supervision -------------------------------------------------------------------------


@dataclass
class TherapistSummary:
    therapist: User
    active_clients: int = 0
    mean_client_alliance: float | None = None
    completed_30d: int = 0
    with_client_form_30d: int = 0
    open_flags: int = 0

    @property
    def client_form_rate(self) -> float | None:
        """Share of the last 30 days' completed sessions that have a client form."""
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
    viewer: User, therapists: list[User], *, now: dt.datetime | None = None
) -> list[TherapistSummary]:
    """Per-therapist figures over the viewer's scope, in three aggregate queries.

    Active clients and the mean of their latest client totals; completed sessions in the
    last 30 days and how many have a client form; open flags on their primary clients.
    """
    now = now or timezone.now()
    summaries = {t.pk: TherapistSummary(therapist=t) for t in therapists}
    if not summaries:
        return []
    ids = list(summaries)
    visible = Client.objects.visible_to(viewer)

    totals: dict[int, list[float]] = defaultdict(list)
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

    has_client_form = Exists(Rating.objects.filter(session=OuterRef("pk"), rater=Rater.CLIENT))
    sessions = (
        TherapySession.objects.completed()
        .filter(
            client__in=visible,
            therapist__in=ids,
            starts_at__gte=now - dt.timedelta(days=30),
            starts_at__lte=now,
        )
        .values("therapist_id")
        .annotate(total=Count("pk"), with_form=Count("pk", filter=Q(has_client_form)))
        .order_by()
    )
    for row in sessions:
        summaries[row["therapist_id"]].completed_30d = row["total"]
        summaries[row["therapist_id"]].with_client_form_30d = row["with_form"]

    flags = (
        Flag.objects.open()
        .filter(client__in=visible.filter(primary_therapist__in=ids))
        .values("client__primary_therapist_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in flags:
        summaries[row["client__primary_therapist_id"]].open_flags = row["n"]
    return list(summaries.values())


def annotate_latest_client_total(clients: QuerySet[Client]) -> QuerySet[Client]:
    return clients.annotate(latest_client_total=_latest_total(Rater.CLIENT))


# --- client page -------------------------------------------------------------------------


def client_flags(user: User, client: Client) -> QuerySet[Flag]:
    """The client's active flags (open and acknowledged), newest session first."""
    return (
        Flag.objects.visible_to(user)
        .active()
        .filter(client=client)
        .select_related("session", "acknowledged_by")
        .order_by("status", "-session__number", "rule")
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
