"""The clinic overview for the clinic admin."""

from dataclasses import dataclass

import pandas as pd
from django.db.models import (
    Count,
    Q,
)

from alliance.clients import selectors as client_selectors
from alliance.dashboards.figures import period_means
from alliance.dashboards.periods import Period
from alliance.flags.rules import rule_label
from alliance.models import Client, Episode, Flag, User
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


def clinic_overview(admin: User, *, period: Period) -> ClinicOverview:
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
    per_rule = pd.DataFrame(
        [
            {
                "rule": row["rule"],
                "label": str(rule_label(row["rule"])),
                "n": row["n"],
                "open": row["open"],
                "unrepaired": row["unrepaired"],
            }
            for row in flags
        ],
        columns=["rule", "label", "n", "open", "unrepaired"],
    ).sort_values(["n", "rule"], ascending=[False, True], ignore_index=True)

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
