"""Caseload rows and the supervisor's queue: the facts the ranking reads (a fixed number of
queries for any number of clients), the ranked rows and their sparklines."""

import functools
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import (
    Exists,
    F,
    OuterRef,
    QuerySet,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from alliance import charts
from alliance.analytics import DEFAULTS
from alliance.clients import selectors as client_selectors
from alliance.dashboards.risk import EpisodeFact, Risk, needs_a_look, risk_assess
from alliance.dashboards.scales import DEFAULT_SCALE_RANGE, missing_forms_after, scale_range_for
from alliance.models import Client, Clinic, Episode, Flag, User
from sessions.models import TherapySession

# Sparklines show the client-rated total of the last completed sessions.
SPARKLINE_SESSIONS = 10
# An open episode is a new signal while it reaches into the client's last this many held
# sessions (the default repair window): after that the sessions since have answered it, and
# it waits on the client's page, off the "need a look" list.
RECENT_SESSIONS = 3


def episode_facts(
    client_ids: list[int] | None = None,
    *,
    clients: QuerySet[Client] | None = None,
    resolved: bool = False,
) -> dict[int, list[EpisodeFact]]:
    """The active, unresolved (``resolved``: all active) episodes of these clients
    (``client_ids``, or the ``clients`` queryset, read as a subquery) with the rules of their
    active flags, by client: one query (one row per flag, regrouped here).

    Whether an episode is new (``EpisodeFact.recent``) is asked of the database: its last
    session is new while the client has held fewer than RECENT_SESSIONS sessions after it
    (by start, then number), an index probe of at most that many rows per flag.
    """
    flags = Flag.objects.active().filter(episode__retired_at__isnull=True)
    if not resolved:
        flags = flags.exclude(episode__status=Episode.Status.RESOLVED)
    if clients is not None:
        flags = flags.filter(client__in=clients.values("pk"))
    else:
        flags = flags.filter(client_id__in=client_ids)
    # Held after the last session: a start on or after its start (one index range), less
    # the sessions at that very start numbered up to it.
    last_start = OuterRef("episode__last_session__starts_at")
    held_after = (
        TherapySession.objects.completed()
        .filter(client_id=OuterRef("client_id"), starts_at__gte=last_start)
        .exclude(starts_at=last_start, number__lte=OuterRef("episode__last_session__number"))
    )
    rows = (
        flags.annotate(superseded=Exists(held_after[RECENT_SESSIONS - 1 : RECENT_SESSIONS]))
        .values_list(
            "episode_id",
            "episode__client_id",
            "episode__kind",
            "episode__status",
            "episode__repair_status",
            "episode__session__number",
            "superseded",
            "rule",
        )
        .order_by()
    )
    found: dict[int, tuple] = {}
    rules: dict[int, set[str]] = defaultdict(set)
    for episode_id, client_id, kind, status, repair, number, superseded, rule in rows:
        found[episode_id] = (client_id, kind, status, repair or "", number, not superseded)
        rules[episode_id].add(rule)
    facts: dict[int, list[EpisodeFact]] = defaultdict(list)
    for episode_id, (client_id, kind, status, repair, number, recent) in found.items():
        facts[client_id].append(
            EpisodeFact(
                episode_id, kind, status, repair, number, frozenset(rules[episode_id]), recent
            )
        )
    return facts


def recent_client_totals(client_ids: list[int]) -> dict[int, list[tuple[int, float | None]]]:
    """(session number, client-rated total or None) of each client's last completed sessions
    (SPARKLINE_SESSIONS), oldest first: one query (a window function keeps it small)."""
    rows = (
        TherapySession.objects.completed()
        .filter(client_id__in=client_ids)
        .annotate(
            position=Window(
                RowNumber(), partition_by=[F("client_id")], order_by=F("number").desc()
            ),
        )
        .filter(position__lte=SPARKLINE_SESSIONS)
        .values_list("client_id", "number", "client_total")
        .order_by()
    )
    recent: dict[int, list[tuple[int, float | None]]] = defaultdict(list)
    for client_id, number, value in rows:
        recent[client_id].append((number, value))
    for values in recent.values():
        values.sort()
    return recent


# Sort keys of the caseload pages: "risk" (the default) in Python, the others in SQL.
RISK_SORT = "risk"


def caseload_sort(value: str | None) -> str:
    """``risk`` or ``-risk``, a sort the caseload selector offers, else the default (risk)."""
    if value in (RISK_SORT, f"-{RISK_SORT}"):
        return value
    if value and value.removeprefix("-") in client_selectors.CASELOAD_SORTS:
        return value
    return RISK_SORT


def caseload_rows(
    viewer: User,
    *,
    therapist: User | None = None,
    search: str = "",
    sort: str = RISK_SORT,
    include_discharged: bool = False,
) -> list["CaseloadRow"]:
    """A row for each client of the caseload (``client_selectors.caseload_for``) with its risk
    (``risk_assess``) and sparkline points (``CaseloadRow``).

    Sorted by risk tier, then the lowest latest client total, then code; or by any caseload
    sort. Three queries.
    """
    sort = caseload_sort(sort)
    by_risk = sort.removeprefix("-") == RISK_SORT
    clients = client_selectors.caseload_for(
        viewer,
        therapist=therapist,
        search=search,
        sort="code" if by_risk else sort,
        include_discharged=include_discharged,
    )
    rows = caseload_rows_for(viewer, list(clients))
    if by_risk:
        rows.sort(key=_risk_key, reverse=sort.startswith("-"))
    return rows


def _risk_settings(clinic: Clinic | None) -> tuple[tuple[float, float], int]:
    """The clinic's total-score range and its missing_forms setting, for ``risk_assess``."""
    if clinic is None:
        return DEFAULT_SCALE_RANGE, DEFAULTS["missing_forms"]["sessions"]
    return scale_range_for(clinic), missing_forms_after(clinic)


def caseload_rows_for(viewer: User, clients: list[Client]) -> list["CaseloadRow"]:
    """A ``CaseloadRow`` for each client (with the caseload columns,
    ``client_selectors.caseload_for``), in the order given: two queries."""
    if not clients:
        return []
    scale_range, missing_after = _risk_settings(viewer.clinic)
    ids = [c.pk for c in clients]
    facts = episode_facts(ids)
    recent = recent_client_totals(ids)
    return [
        CaseloadRow(
            client=client,
            risk=risk_assess(
                facts.get(client.pk, []),
                sessions_since_form=client.sessions_since_client_form,
                missing_after=missing_after,
            ),
            recent=recent.get(client.pk, []),
            scale_range=scale_range,
        )
        for client in clients
    ]


def _rank_key(risk: Risk, latest: float | None, code: str) -> tuple:
    """Most at risk first; within a tier the lowest latest client total, then code."""
    return (risk.tier, latest is None, latest if latest is not None else 0, code)


def _risk_key(row: "CaseloadRow") -> tuple:
    return _rank_key(row.risk, row.client.latest_client_total, row.client.code)


def _difference(latest: float | None, previous: float | None) -> float | None:
    return None if latest is None or previous is None else latest - previous


@dataclass
class CaseloadRow:
    """A client's row on a caseload, a supervision queue or a packet.

    ``client`` has the caseload columns (``client_selectors.annotate_alliance``); ``risk`` says
    where it ranks and why; ``recent`` holds the sparkline's points (session number,
    client-rated total or None), oldest first.
    """

    client: Client
    risk: Risk
    recent: list[tuple[int, float | None]]
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE

    @property
    def client_change(self) -> float | None:
        """The latest client-rated total minus the one before it."""
        return _difference(self.client.latest_client_total, self.client.previous_client_total)

    @property
    def therapist_change(self) -> float | None:
        """The latest therapist-rated total minus the one before it."""
        return _difference(self.client.latest_therapist_total, self.client.previous_therapist_total)

    @functools.cached_property
    def sparkline(self) -> SafeString:
        """The inline SVG of ``recent``; empty when none of them has a score."""
        return sparkline_for(self.recent, self.scale_range)


@dataclass
class RiskQueue:
    """A supervision queue: ``rows`` are the first clients of the queue (``CaseloadRow``)."""

    rows: list[CaseloadRow]
    total: int  # clients in the queue: those needing a look, or every client
    attention: int  # clients needing a look (risk tier above FINE)
    clients: int  # active primary clients of the therapists
    # What the ranking read of every client, for the per-therapist figures
    # (``therapist_figures(..., queue=...)``) to count from instead of reading it again.
    ranking: list[client_selectors.RankingRow] = field(default_factory=list)
    facts: dict[int, list[EpisodeFact]] = field(default_factory=dict)
    page: Page | None = None  # which part of the queue ``rows`` are
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE  # the clinic's, for its charts


def risk_queue(
    viewer: User,
    therapists: list[User],
    *,
    every_client: bool = False,
    limit: int,
    page: int | str | None = 1,
) -> RiskQueue:
    """The therapists' active primary clients ranked as on the caseload (``risk_assess``):
    those needing a look, or ``every_client``, page ``page`` of ``limit`` of them as rows
    (``Paginator.get_page``: a bad page number gives the first or the last page).

    A supervisor may see thousands of clients and is shown a hundred, so the ranking reads
    only what ``risk_assess`` needs for every client (the latest client total, sessions
    since the last client form and the unresolved episodes), then the caseload columns and
    sparklines are read for the rows shown. Four queries.
    """
    if not therapists:
        return RiskQueue(rows=[], total=0, attention=0, clients=0)
    scale_range, missing_after = _risk_settings(viewer.clinic)
    ids = [t.pk for t in therapists]
    ranking = client_selectors.queue_ranking(viewer, ids)
    facts = episode_facts(clients=client_selectors.queue_clients(viewer, ids))
    ranked = []
    for row in ranking:
        risk = risk_assess(
            facts.get(row.pk, []),
            sessions_since_form=row.sessions_since_client_form,
            missing_after=missing_after,
        )
        ranked.append((_rank_key(risk, row.latest_client_total, row.code), row.pk, risk))
    ranked.sort(key=lambda entry: entry[0])
    attention = [entry for entry in ranked if needs_a_look(entry[2])]
    queue = ranked if every_client else attention
    shown = Paginator(queue, limit).get_page(page)
    risks = {pk: risk for _key, pk, risk in shown.object_list}
    found = {c.pk: c for c in client_selectors.caseload_for(viewer).filter(pk__in=list(risks))}
    sparklines = recent_client_totals(list(found))
    rows = [
        CaseloadRow(
            client=client, risk=risk, recent=sparklines.get(pk, []), scale_range=scale_range
        )
        for pk, risk in risks.items()  # in rank order
        if (client := found.get(pk)) is not None
    ]
    return RiskQueue(
        rows=rows,
        total=len(queue),
        attention=len(attention),
        clients=len(ranked),
        ranking=ranking,
        facts=facts,
        page=shown,
        scale_range=scale_range,
    )


def sparkline_for(recent: list[tuple[int, float | None]], scale_range) -> SafeString:
    """The inline SVG of a client's recent client-rated totals (``charts.sparkline``), its
    text alternative the totals; empty when none of them has a score."""
    scored = [f"{value:.2f}" for _n, value in recent if value is not None]
    shape = charts.sparkline(recent, scale_range=scale_range)
    if not scored or shape is None:
        return SafeString("")
    label = _("Client-rated total, last %(count)d sessions: %(values)s") % {
        "count": len(recent),
        "values": ", ".join(scored),
    }
    # Safe strings added together stay safe: each mark is a format_html fragment.
    marks = SafeString()
    for run in shape.runs:
        if len(run) == 1:
            marks += format_html('<circle cx="{}" cy="{}" r="1.6" class="point"/>', *run[0])
        else:
            coords = " ".join(f"{x},{y}" for x, y in run)
            marks += format_html('<polyline points="{}" class="line"/>', coords)
    if shape.last:
        marks += format_html('<circle cx="{}" cy="{}" r="2.6" class="last"/>', *shape.last)
    return format_html(
        '<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        'viewBox="0 0 {w} {h}" role="img" aria-label="{label}" focusable="false">'
        '<title>{label}</title><line x1="0" x2="{w}" y1="{base}" y2="{base}" class="base"/>'
        "{marks}</svg>",
        w=shape.width,
        h=shape.height,
        base=shape.base_y,
        label=label,
        marks=marks,
    )
