"""The clinic overview for the clinic admin, and the snapshot it is shown from.

The overview reads every client of the clinic (at the L benchmark's network, 20,000 clients
and 1.1 million scores: about 1.7 s of SQL). So the page shows a snapshot of it
(``ClinicOverviewSnapshot``, read by ``clinic_overview_kept``) no older than
SNAPSHOT_MAX_AGE, with the time it was computed. ``clinic_overview_refresh`` computes and
keeps one: for a period without a fresh snapshot, for the page's "Refresh now", and for
each clinic's default period ahead of the page (``manage.py refresh_overview``).
"""

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from django.db import IntegrityError, transaction
from django.db.models import (
    Count,
    Q,
)
from django.utils import timezone

from alliance.clients import selectors as client_selectors
from alliance.dashboards.figures import period_means
from alliance.dashboards.periods import Period, today_in
from alliance.flags.rules import rule_label
from alliance.models import Client, Clinic, ClinicOverviewSnapshot, Episode, Flag, User
from alliance.people import selectors as people_selectors
from measures.models import Rater, ScaleScore


@dataclass
class ClinicOverview:
    period: Period
    latest_totals: pd.Series  # latest client-rated total of each active client (NaN: none)
    completion: list[tuple[User, int, int]]  # (therapist, completed, with client form)
    # rule, label, and the active episodes in which the rule fired: n, open, unrepaired
    flags_per_rule: pd.DataFrame
    monthly: pd.DataFrame  # month, rater, mean, n; every month for both raters
    computed_at: dt.datetime | None = None  # when the figures were read

    @property
    def active_clients(self) -> int:
        return len(self.latest_totals)

    @property
    def rated_clients(self) -> int:
        return int(self.latest_totals.count())

    @property
    def completed(self) -> int:
        return sum(total for _t, total, _f in self.completion)

    @property
    def with_client_form(self) -> int:
        return sum(with_form for _t, _c, with_form in self.completion)

    @property
    def completion_rate(self) -> float | None:
        return self.with_client_form / self.completed if self.completed else None


# The overview's period unless the admin picks another: the last twelve calendar months.
OVERVIEW_MONTHS = 12
# The page shows a snapshot up to this old; the scheduled refresh runs more often.
SNAPSHOT_MAX_AGE = dt.timedelta(minutes=15)
# Snapshots not computed again for this long are deleted (by the scheduled refresh, and
# whenever one of the clinic's is computed): admins pick periods of their own.
SNAPSHOT_KEEP = dt.timedelta(days=1)


def overview_default_period(clinic: Clinic) -> Period:
    """The OVERVIEW_MONTHS calendar months up to today in the clinic's timezone."""
    return Period.months_to(today_in(clinic), OVERVIEW_MONTHS, clinic.tzinfo)


def clinic_overview_kept(
    admin: User, *, period: Period, max_age: dt.timedelta = SNAPSHOT_MAX_AGE
) -> ClinicOverview | None:
    """The admin's clinic overview of ``period`` from its snapshot, if one at most
    ``max_age`` old is kept (one query, and one for the therapists); else None: the caller
    computes it (``clinic_overview_refresh``)."""
    found = ClinicOverviewSnapshot.objects.filter(
        clinic_id=admin.clinic_id,
        start=period.start,
        end=period.end,
        computed_at__gte=timezone.now() - max_age,
    ).first()
    if found is None:
        return None
    return _overview_from_figures(found.figures, period, found.computed_at, admin.clinic_id)


def clinic_overview_refresh(*, admin: User, period: Period) -> ClinicOverview:
    """Compute the admin's clinic overview of ``period`` (``clinic_overview_compute``) and
    keep it as the period's snapshot, unless one computed later is kept already (a "Refresh
    now" meanwhile); delete the clinic's snapshots not computed again for SNAPSHOT_KEEP."""
    now = timezone.now()
    overview = clinic_overview_compute(admin, period=period)
    overview.computed_at = now
    kept = {"computed_at": now, "figures": _figures_of(overview)}
    clinic_snapshots = ClinicOverviewSnapshot.objects.filter(clinic_id=admin.clinic_id)
    clinic_snapshots.filter(computed_at__lt=now - SNAPSHOT_KEEP).exclude(
        start=period.start, end=period.end
    ).delete()
    period_snapshot = clinic_snapshots.filter(start=period.start, end=period.end)
    if not period_snapshot.filter(computed_at__lt=now).update(**kept):
        try:
            with transaction.atomic():
                period_snapshot.create(
                    clinic_id=admin.clinic_id, start=period.start, end=period.end, **kept
                )
        except IntegrityError:
            pass  # kept meanwhile, by another request or the scheduled refresh
    return overview


def clinic_overviews_refresh() -> int:
    """Compute every clinic's overview of its default period afresh, as one of its active
    clinic admins sees it (all admins of a clinic see the same figures), and delete the
    snapshots older than SNAPSHOT_KEEP. Returns how many clinics were refreshed."""
    ClinicOverviewSnapshot.objects.filter(computed_at__lt=timezone.now() - SNAPSHOT_KEEP).delete()
    admins = User.objects.filter(
        is_active=True, is_clinic_admin=True, clinic__isnull=False
    ).select_related("clinic")
    first_admin = {}
    for admin in admins.order_by("-pk"):
        first_admin[admin.clinic_id] = admin
    for admin in first_admin.values():
        clinic_overview_refresh(admin=admin, period=overview_default_period(admin.clinic))
    return len(first_admin)


def _figures_of(overview: ClinicOverview) -> dict:
    """The overview as JSON: numbers, therapist ids and rule keys (labels are translated
    when shown)."""
    return {
        "latest_totals": [None if pd.isna(v) else float(v) for v in overview.latest_totals],
        "completion": [
            [t.pk, completed, with_form] for t, completed, with_form in overview.completion
        ],
        "flags_per_rule": overview.flags_per_rule[["rule", "n", "open", "unrepaired"]].to_dict(
            "records"
        ),
        "monthly": [
            {
                "month": row.month.isoformat(),
                "rater": row.rater,
                "mean": None if pd.isna(row.mean) else float(row.mean),
                "n": int(row.n),
            }
            for row in overview.monthly.itertuples()
        ],
    }


def _overview_from_figures(
    figures: dict, period: Period, computed_at: dt.datetime, clinic_id: int
) -> ClinicOverview:
    therapists = User.objects.filter(clinic_id=clinic_id).in_bulk(
        [therapist_id for therapist_id, *_ in figures["completion"]]
    )
    monthly = pd.DataFrame(figures["monthly"], columns=["month", "rater", "mean", "n"])
    monthly["month"] = [dt.date.fromisoformat(month) for month in monthly["month"]]
    monthly["mean"] = monthly["mean"].astype(float)
    return ClinicOverview(
        period=period,
        latest_totals=pd.Series(figures["latest_totals"], dtype=float),
        completion=[
            (therapists[therapist_id], completed, with_form)
            for therapist_id, completed, with_form in figures["completion"]
            if therapist_id in therapists
        ],
        flags_per_rule=_per_rule_frame(figures["flags_per_rule"]),
        monthly=monthly,
        computed_at=computed_at,
    )


def _per_rule_frame(rows: list[dict]) -> pd.DataFrame:
    """Rule, its label (translated now), and its counts, the most flagged rule first."""
    return pd.DataFrame(
        [{**row, "label": str(rule_label(row["rule"]))} for row in rows],
        columns=["rule", "label", "n", "open", "unrepaired"],
    ).sort_values(["n", "rule"], ascending=[False, True], ignore_index=True)


def clinic_overview_compute(admin: User, *, period: Period) -> ClinicOverview:
    """The clinic admin's overview, in five aggregate queries: latest client totals of the
    active clients; client-form completion per therapist over the period; per rule, the
    active episodes whose flags of that rule are on sessions in the period (all, open,
    unrepaired); monthly mean client- and therapist-rated totals."""
    visible = Client.objects.visible_to(admin)
    latest = pd.Series(
        list(
            client_selectors.annotate_latest_client_total(visible.active())
            .values_list("latest_client_total", flat=True)
            .order_by()
        ),
        dtype=float,
    )

    completion = people_selectors.completion_by_therapist(
        admin, None, start=period.start_at, end=period.end_at
    )
    therapists = User.objects.filter(
        Q(pk__in=list(completion)) | Q(clinic_id=admin.clinic_id, is_therapist=True, is_active=True)
    ).order_by("last_name", "first_name", "username")
    by_therapist = [(t, *completion.get(t.pk, (0, 0))) for t in therapists]

    flags = (
        Flag.objects.visible_to(admin)
        .active()
        .filter(
            episode__retired_at__isnull=True,
            session__starts_at__gte=period.start_at,
            session__starts_at__lt=period.end_at,
        )
        .values("rule")
        .annotate(
            n=Count("episode", distinct=True),
            open=Count("episode", distinct=True, filter=Q(episode__status=Episode.Status.OPEN)),
            unrepaired=Count(
                "episode",
                distinct=True,
                filter=Q(episode__repair_status=Episode.RepairStatus.UNREPAIRED),
            ),
        )
        .order_by()
    )
    per_rule = _per_rule_frame(
        [
            {
                "rule": row["rule"],
                "n": row["n"],
                "open": row["open"],
                "unrepaired": row["unrepaired"],
            }
            for row in flags
        ]
    )

    totals = ScaleScore.objects.filter(
        scale="total", score__isnull=False, rating__session__client__in=visible
    )
    found = period_means(
        totals,
        period,
        period.months(),
        "rating__rater",
        at="rating__session__starts_at",
        score="score",
    )
    monthly = pd.DataFrame(
        [
            {
                "month": month,
                "rater": rater,
                "mean": found.get((rater, month), (float("nan"), 0))[0],
                "n": found.get((rater, month), (float("nan"), 0))[1],
            }
            for rater in (Rater.CLIENT.value, Rater.THERAPIST.value)
            for month in period.months()
        ],
        columns=["month", "rater", "mean", "n"],
    )
    return ClinicOverview(
        period=period,
        latest_totals=latest,
        completion=by_therapist,
        flags_per_rule=per_rule,
        monthly=monthly,
    )
