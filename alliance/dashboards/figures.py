"""Per-therapist figures for the supervisor: mean alliance, trend, form completion, open
flags, ruptures and time to acknowledge, each a fixed number of aggregate queries."""

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd
from django.db.models import (
    Aggregate,
    Case,
    Count,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)

from alliance.dashboards.periods import Period
from alliance.dashboards.queue import RiskQueue
from alliance.models import Client, Episode, User
from alliance.people import selectors as people_selectors
from sessions.models import TherapySession

# The supervisor's per-therapist trend compares two windows of this length.
TREND_WEEKS = 12
# Time to acknowledge a flag: the median over flags acknowledged in this many days.
ACKNOWLEDGE_DAYS = 90


@dataclass
class TherapistFigures:
    """A supervisee's row on the supervision dashboard and in the packet."""

    summary: people_selectors.TherapistSummary  # active clients, mean client alliance, open flags
    completed: int = 0  # completed sessions in the period
    with_client_form: int = 0
    mean_recent: float | None = None  # mean client total, last TREND_WEEKS weeks
    mean_previous: float | None = None  # the TREND_WEEKS weeks before
    unrepaired: int = 0  # clients with an unresolved unrepaired rupture episode
    pending: int = 0
    acknowledged: int = 0  # episodes acknowledged in the last ACKNOWLEDGE_DAYS days
    median_acknowledge_hours: float | None = None
    # Monday -> (mean client total, ratings) of the weeks of the period that have ratings.
    weekly: dict[dt.date, tuple[float, int]] = field(default_factory=dict)

    @property
    def therapist(self) -> User:
        return self.summary.therapist

    @property
    def completion_rate(self) -> float | None:
        return self.with_client_form / self.completed if self.completed else None

    @property
    def trend(self) -> float | None:
        if self.mean_recent is None or self.mean_previous is None:
            return None
        return self.mean_recent - self.mean_previous


def therapist_figures(
    viewer: User, therapists: list[User], *, period: Period, queue: RiskQueue | None = None
) -> list[TherapistFigures]:
    """Per-therapist figures for the supervision dashboard, in five aggregate queries (three
    when given the dashboard's ``queue`` of these therapists, whose reads they reuse).

    From ``people_selectors.therapist_summaries`` (shared with the API and the clinic page): active
    clients, mean of their latest client totals, open flags, and its completion counted
    here. Here, from one aggregate over the sessions (by the therapist who held them):
    client-form completion over ``period`` and over the summaries' COMPLETION_DAYS;
    trend = mean client-rated total of the TREND_WEEKS weeks up to the end of the period
    minus the TREND_WEEKS weeks before; the weekly means over the period. Then clients with
    an unrepaired or pending rupture episode; median hours from an episode's creation to
    its acknowledgement over episodes acknowledged in the ACKNOWLEDGE_DAYS days up to the
    period end.
    """
    if not therapists:
        return []
    ids = [t.pk for t in therapists]
    end = period.end_at
    split = end - dt.timedelta(weeks=TREND_WEEKS)
    windows = {
        PERIOD_SPAN: (period.start_at, end),
        SUMMARY_SPAN: (end - dt.timedelta(days=people_selectors.COMPLETION_DAYS), end),
        "recent": (split, end),
        "previous": (split - dt.timedelta(weeks=TREND_WEEKS), split),
    }
    completed = Q(status=TherapySession.Status.COMPLETED)
    sessions = TherapySession.objects.filter(
        completed | Q(client_total__isnull=False),
        client__in=Client.objects.visible_to(viewer),
        therapist_id__in=ids,
    )
    sums = _period_sums(
        sessions,
        period,
        period.weeks(),
        "therapist_id",
        at="starts_at",
        sums={
            "total": Sum("client_total"),
            "n": Count("client_total"),
            "completed": Count("pk", filter=completed),
            "with_form": Count("pk", filter=completed & Q(client_form=True)),
        },
        windows=windows,
    )
    summaries = people_selectors.therapist_summaries(
        viewer,
        therapists,
        now=end,
        ranking=queue.ranking if queue is not None else None,
        completion={
            therapist_id: (found["completed"], found["with_form"])
            for (therapist_id, span), found in sums.items()
            if span == SUMMARY_SPAN
        },
    )
    rows = {s.therapist.pk: TherapistFigures(summary=s) for s in summaries}
    for (therapist_id, span), found in sums.items():
        figures = rows[therapist_id]
        mean = found["total"] / found["n"] if found["n"] else None
        if span == SUMMARY_SPAN:
            continue
        if span == PERIOD_SPAN:
            figures.completed, figures.with_client_form = found["completed"], found["with_form"]
        elif span == "recent":
            figures.mean_recent = mean
        elif span == "previous":
            figures.mean_previous = mean
        elif mean is not None:
            figures.weekly[span] = (mean, found["n"])

    if queue is not None:
        ruptures = _rupture_clients_of_queue(queue)
    else:
        ruptures = _rupture_clients(viewer, ids)
    for therapist_id, (unrepaired, pending) in ruptures.items():
        rows[therapist_id].unrepaired, rows[therapist_id].pending = unrepaired, pending

    waits: dict[int, list[float]] = defaultdict(list)
    acknowledged = (
        Episode.objects.filter(
            client__in=Client.objects.visible_to(viewer),
            client__primary_therapist_id__in=ids,
            acknowledged_at__gte=end - dt.timedelta(days=ACKNOWLEDGE_DAYS),
            acknowledged_at__lt=end,
        )
        .values_list("client__primary_therapist_id", "created_at", "acknowledged_at")
        .order_by()
    )
    for therapist_id, created_at, acknowledged_at in acknowledged:
        waits[therapist_id].append(max((acknowledged_at - created_at).total_seconds(), 0) / 3600)
    for therapist_id, hours in waits.items():
        rows[therapist_id].acknowledged = len(hours)
        rows[therapist_id].median_acknowledge_hours = statistics.median(hours)
    return [rows[t.pk] for t in therapists]


# Two of _period_sums' windows besides the weeks and the trend windows: the period itself,
# and the days of the therapist summaries' completion (people_selectors.COMPLETION_DAYS).
PERIOD_SPAN = "period"
SUMMARY_SPAN = "summary"


def _rupture_clients(viewer: User, therapist_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Therapist id -> (active primary clients with an unrepaired rupture episode, with a
    pending one): active, unresolved rupture episodes (a drop of either rater). One
    query."""
    episodes = (
        Episode.objects.unresolved()
        .filter(
            kind=Episode.Kind.RUPTURE,
            client__in=Client.objects.visible_to(viewer).active(),
            client__primary_therapist_id__in=therapist_ids,
        )
        .values("client__primary_therapist_id")
        .annotate(
            unrepaired=Count(
                "client", distinct=True, filter=Q(repair_status=Episode.RepairStatus.UNREPAIRED)
            ),
            pending=Count(
                "client", distinct=True, filter=Q(repair_status=Episode.RepairStatus.PENDING)
            ),
        )
        .order_by()
    )
    return {
        row["client__primary_therapist_id"]: (row["unrepaired"], row["pending"]) for row in episodes
    }


def _rupture_clients_of_queue(queue: RiskQueue) -> dict[int, tuple[int, int]]:
    """What ``_rupture_clients`` counts, from the episodes the queue's ranking read (every
    active, unresolved episode of its clients)."""
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in queue.ranking:
        statuses = {
            e.repair_status for e in queue.facts.get(row.pk, ()) if e.kind == Episode.Kind.RUPTURE
        }
        counts[row.therapist_id][0] += Episode.RepairStatus.UNREPAIRED in statuses
        counts[row.therapist_id][1] += Episode.RepairStatus.PENDING in statuses
    return {therapist_id: (u, p) for therapist_id, (u, p) in counts.items()}


def weekly_client_totals(figures: list[TherapistFigures], *, period: Period) -> pd.DataFrame:
    """Weekly mean client-rated total per therapist (who held the session) over the period,
    from ``therapist_figures``: columns therapist (name), therapist_id, week (Monday), mean,
    n; every week of the period for every therapist, NaN mean where none."""
    none = (float("nan"), 0)
    records = [
        {
            "therapist": str(row.therapist),
            "therapist_id": row.therapist.pk,
            "week": week,
            "mean": row.weekly.get(week, none)[0],
            "n": row.weekly.get(week, none)[1],
        }
        for row in figures
        for week in period.weeks()
    ]
    return pd.DataFrame.from_records(
        records, columns=["therapist", "therapist_id", "week", "mean", "n"]
    )


def period_means(
    rows: QuerySet, period: Period, starts: list[dt.date], by: str, *, at: str, score: str
) -> dict[tuple, tuple[float, int]]:
    """(``by`` value, bucket start) -> (mean ``score``, count) over the rows whose session
    was held (``at``, its start) in the period, bucketed at ``starts`` (Mondays or firsts of
    the month, in the clinic's timezone). Buckets without scores are left out. One query
    (``_period_sums``)."""
    sums = _period_sums(
        rows, period, starts, by, at=at, sums={"total": Sum(score), "n": Count(score)}
    )
    return {
        key: (found["total"] / found["n"], found["n"]) for key, found in sums.items() if found["n"]
    }


def _period_sums(
    rows: QuerySet,
    period: Period,
    starts: list[dt.date],
    by: str,
    *,
    at: str,
    sums: dict[str, Aggregate],
    windows: dict[str, tuple[dt.datetime, dt.datetime]] | None = None,
) -> dict[tuple, dict[str, float]]:
    """(``by`` value, bucket start) -> {name: sum of the ``sums`` aggregate} over the rows
    whose session was held (``at``, its start) in the period, bucketed at ``starts``
    (Mondays or firsts of the month, in the clinic's timezone); and (``by`` value, name) ->
    the same for each of ``windows`` (name -> [from, to)), which may reach outside the
    period. ``sums`` are additive aggregates (Sum, Count without distinct). Only buckets and
    windows that hold rows are given.

    One aggregate query: every edge of every span, in order, cuts time into slices; each
    row's slice is one CASE on ``at``, and the aggregates are grouped by ``by`` and slice; a
    span adds up its slices here. The edges are computed in Python, so the database compares
    datetimes and truncates none (SQLite would run a Python function per row), and each row
    is compared once, not once per bucket."""
    edges = [max(period.start_at, dt.datetime.combine(d, dt.time(), period.tz)) for d in starts]
    edges.append(period.end_at)
    spans = {start: (edges[index], edges[index + 1]) for index, start in enumerate(starts)}
    spans.update(windows or {})
    cuts = sorted({edge for span in spans.values() for edge in span})
    slice_of = Case(
        *[When(**{f"{at}__lt": cut, "then": Value(index)}) for index, cut in enumerate(cuts[1:])],
        output_field=IntegerField(),
    )
    sliced = (
        rows.filter(**{f"{at}__gte": cuts[0], f"{at}__lt": cuts[-1]})
        .annotate(slice=slice_of)
        .values(by, "slice")
        .annotate(**sums)
        .order_by()
    )
    found: dict[tuple, dict[str, float]] = {}
    for row in sliced:
        begin, end = cuts[row["slice"]], cuts[row["slice"] + 1]
        for key, (span_begin, span_end) in spans.items():
            if span_begin <= begin and end <= span_end:
                added = found.setdefault((row[by], key), dict.fromkeys(sums, 0))
                for name in sums:
                    added[name] += row[name] or 0
    return found
