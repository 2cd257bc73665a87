"""Reads for the clinic's people: supervisees and their summaries, and the clinic admin's
lists of users and supervision links. Every selector starts from the user's scope."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import (
    Count,
    Q,
    QuerySet,
)
from django.shortcuts import get_object_or_404
from django.utils import timezone

from alliance.clients.selectors import RankingRow, annotate_latest_client_total
from alliance.models import Client, Episode, Supervision, User
from sessions.models import TherapySession

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
