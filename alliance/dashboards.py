"""Dashboard reads: the risk ranking, per-therapist figures, series for charts, the clinic
overview and the supervision packet's numbers.

Every number on the caseload, supervision, packet and clinic-overview pages comes from here.
Each function starts from the viewer's scope (``Client.objects.visible_to`` through
``alliance.selectors``) and takes a fixed number of aggregate queries whatever the number of
clients: ``.values(...).annotate(...)`` in SQL, then regrouped in Python or pandas. Figures
are built by the pure ``alliance.charts`` and serialised once per request. The rules behind
the ranking and each figure are in docs/dashboards.md.
"""

import datetime as dt
import functools
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd
from django.core.paginator import Page, Paginator
from django.db.models import (
    Aggregate,
    Case,
    Count,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import formats, timezone, translation
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext_noop, ngettext
from django.utils.translation import gettext as _

from alliance import charts, selectors
from alliance.analytics import DEFAULTS, validate_config
from alliance.flags.rules import rule_label
from alliance.models import Client, Clinic, Episode, Flag, User
from measures.models import Rater, ScaleScore
from measures.selectors import instruments_for
from sessions.models import TherapySession

# Sparklines show the client-rated total of the last completed sessions.
SPARKLINE_SESSIONS = 10
# An open episode is a new signal while it reaches into the client's last this many held
# sessions (the default repair window): after that the sessions since have answered it, and
# it waits on the client's page, off the "need a look" list.
RECENT_SESSIONS = 3
# The supervisor's per-therapist trend compares two windows of this length.
TREND_WEEKS = 12
# Time to acknowledge a flag: the median over flags acknowledged in this many days.
ACKNOWLEDGE_DAYS = 90
DEFAULT_SCALE_RANGE = (1.0, 5.0)


# --- scale range -----------------------------------------------------------------------


def scale_range_for(clinic: Clinic) -> tuple[float, float]:
    """The range of the total score on the clinic's instruments (both raters: the widest),
    for the charts' fixed y axis; the shipped forms: 1-5. One query
    (``measures.selectors.instruments_for``); their stored (validated) definitions are read
    directly."""
    ranges = [total_range(i.definition) for i in instruments_for(clinic=clinic).values()]
    if not ranges:
        return DEFAULT_SCALE_RANGE
    return min(low for low, _high in ranges), max(high for _low, high in ranges)


def total_range(definition: dict) -> tuple[float, float]:
    """(min, max) of the total scale (else the first scale) of a validated definition: the
    response range of its items (a validated scale has one)."""
    keys = [scale["key"] for scale in definition["scales"]]
    key = "total" if "total" in keys else keys[0]
    item = next(item for item in definition["items"] if key in item.get("scales", []))
    response = item.get("response", definition["response"])
    return float(response["min"]), float(response["max"])


def missing_forms_after(clinic: Clinic | None) -> int:
    """The clinic's missing_forms rule setting: this many completed sessions without a
    client form mark a client as unmonitored (default 3, also without a clinic)."""
    given = ((clinic.rule_settings if clinic else None) or {}).get("missing_forms", {})
    try:
        return int(validate_config({"missing_forms": given})["missing_forms"]["sessions"])
    except (ValueError, TypeError):
        return DEFAULTS["missing_forms"]["sessions"]


# --- risk ranking --------------------------------------------------------------------------


class RiskTier:
    """Most in need of a look first (docs/dashboards.md, "Risk ranking"). A client is on the
    "need a look" list when their tier is above OLDER: an older open flag is not actionable
    now, but it is not "No concerns" either."""

    UNREPAIRED = 0
    PENDING = 1
    LOW = 2
    SIGNAL = 3
    MISSING_FORMS = 4
    OLDER = 5
    FINE = 6

    LABELS = (
        gettext_noop("Unrepaired rupture"),
        gettext_noop("Rupture, repair pending"),
        gettext_noop("Low alliance"),
        gettext_noop("Signal to look at"),
        gettext_noop("Client forms missing"),
        gettext_noop("Older open flag"),
        gettext_noop("No concerns"),
    )

    @staticmethod
    def label(tier: int) -> str:
        return _(RiskTier.LABELS[tier])


@dataclass
class Risk:
    tier: int
    # Each reason's text is made (translated) when the reasons are first read: a queue
    # ranks thousands of clients and shows a hundred.
    texts: list[Callable[[], str]] = field(default_factory=list)
    episode_id: int | None = None  # the episode behind the first reason, for a link

    @functools.cached_property
    def reasons(self) -> list[str]:
        return [text() for text in self.texts]

    @property
    def reason(self) -> str:
        return self.reasons[0] if self.reasons else ""

    @property
    def label(self) -> str:
        return RiskTier.label(self.tier)

    @property
    def css(self) -> str:
        return ["unrepaired", "pending", "low", "signal", "missing", "older", "fine"][self.tier]


class EpisodeFact(NamedTuple):
    """What the ranking reads of one active, unresolved episode (a tuple: the ranking reads
    thousands)."""

    id: int
    kind: str
    status: str
    repair_status: str
    session: int  # the number of the session where it began
    rules: frozenset[str]  # the rules of its active flags
    # Its last session is one of the client's last RECENT_SESSIONS held sessions.
    recent: bool = True

    @property
    def is_open(self) -> bool:
        return self.status == Episode.Status.OPEN


def _latest(episodes: list[EpisodeFact]) -> EpisodeFact:
    return max(episodes, key=lambda e: (e.session, e.id))


# Translated when used: the ranking assesses every client of a queue (thousands).
SIGNAL_TEXT = {
    "client_reported_tension": gettext_noop("Client reported tension at session %(number)d"),
    "rater_discrepancy": gettext_noop(
        "Therapist rated higher than the client at session %(number)d"
    ),
    Episode.Kind.CEILING: gettext_noop(
        "Ratings at the scale maximum from session %(number)d: invite feedback"
    ),
    Episode.Kind.MISSING_FORMS: gettext_noop("Client forms missing from session %(number)d"),
    "repaired": gettext_noop("Repaired drop at session %(number)d"),
    "other": gettext_noop("Open flag at session %(number)d"),
    "older": gettext_noop("Open flag at session %(number)d, not acknowledged"),
}


def risk_assess(
    episodes: list[EpisodeFact], *, sessions_since_form: int, missing_after: int
) -> Risk:
    """One client's risk tier and the reasons for it, most serious first.

    ``episodes``: the client's active episodes that are not resolved. A client needs a look
    (a tier above FINE) only when something is actionable now:

    - Unrepaired > pending: a rupture episode (a drop of either rater, on any scale) whose
      repair status is unrepaired or pending, acknowledged or not (the score has not come
      back).
    - Low alliance: a new open (unacknowledged) episode with a low_alliance flag.
    - Signal: any other new open episode: a tension report, the raters' disagreement, a drop
      since repaired but not yet acknowledged; and an open ceiling run, however old. "New":
      the episode reaches into the client's last RECENT_SESSIONS held sessions.
    - Missing forms: at least ``missing_after`` completed sessions since the last client
      form, or a new open missing-forms episode.
    - Older (off the list): an open episode that is not new; the sessions since have
      answered it, and it waits on the client's page to be acknowledged.

    An acknowledged episode without an unrepaired or pending drop (a tension report, a
    repaired drop) keeps nobody on the list; a repaired one is mentioned under FINE. Every
    open episode puts the client above FINE, so "No concerns" never stands beside an open
    flag.
    """
    reasons: list[tuple[int, Callable[[], str], int | None]] = []
    ruptures = [e for e in episodes if e.kind == Episode.Kind.RUPTURE]
    unrepaired = [e for e in ruptures if e.repair_status == Episode.RepairStatus.UNREPAIRED]
    pending = [e for e in ruptures if e.repair_status == Episode.RepairStatus.PENDING]
    if unrepaired:
        episode = _latest(unrepaired)
        acknowledged = not any(e.is_open for e in unrepaired)
        reasons.append(
            (
                RiskTier.UNREPAIRED,
                functools.partial(_unrepaired_text, episode.session, acknowledged),
                episode.id,
            )
        )
    if pending:
        episode = _latest(pending)
        message = gettext_noop("Drop at session %(number)d, repair pending")
        reasons.append((RiskTier.PENDING, _text(message, episode), episode.id))
    low = [e for e in ruptures if e.is_open and e.recent and "low_alliance" in e.rules]
    if low:
        episode = _latest(low)
        message = gettext_noop("Low alliance at session %(number)d")
        reasons.append((RiskTier.LOW, _text(message, episode), episode.id))
    signals = [
        e
        for e in episodes
        if e.is_open
        and (e.recent or e.kind == Episode.Kind.CEILING)
        and e.kind != Episode.Kind.MISSING_FORMS
        and e not in low
        and e.repair_status not in (Episode.RepairStatus.UNREPAIRED, Episode.RepairStatus.PENDING)
    ]
    if signals:
        episode = _latest(signals)
        reasons.append(
            (RiskTier.SIGNAL, _text(SIGNAL_TEXT[_signal_of(episode)], episode), episode.id)
        )
    older = [e for e in episodes if e.is_open and not is_actionable(e)]
    if older:
        episode = _latest(older)
        reasons.append((RiskTier.OLDER, _text(SIGNAL_TEXT["older"], episode), episode.id))
    missing = [
        e for e in episodes if e.is_open and e.recent and e.kind == Episode.Kind.MISSING_FORMS
    ]
    if sessions_since_form >= missing_after:
        reasons.append(
            (
                RiskTier.MISSING_FORMS,
                functools.partial(_missing_forms_text, sessions_since_form),
                _latest(missing).id if missing else None,
            )
        )
    elif missing:
        episode = _latest(missing)
        reasons.append(
            (RiskTier.MISSING_FORMS, _text(SIGNAL_TEXT[episode.kind], episode), episode.id)
        )
    repaired = [
        e for e in ruptures if e.repair_status == Episode.RepairStatus.REPAIRED and not e.is_open
    ]
    if repaired:
        episode = _latest(repaired)
        reasons.append((RiskTier.FINE, _text(SIGNAL_TEXT["repaired"], episode), episode.id))
    if not reasons:
        return Risk(tier=RiskTier.FINE)
    reasons.sort(key=lambda reason: reason[0])
    return Risk(
        tier=reasons[0][0], texts=[text for _t, text, _e in reasons], episode_id=reasons[0][2]
    )


def _signal_of(episode: EpisodeFact) -> str:
    """The key of SIGNAL_TEXT that says what an open episode without a drop to repair is."""
    if episode.kind != Episode.Kind.RUPTURE:
        return episode.kind if episode.kind in SIGNAL_TEXT else "other"
    if episode.repair_status == Episode.RepairStatus.REPAIRED:
        return "repaired"
    for rule in ("client_reported_tension", "rater_discrepancy"):
        if rule in episode.rules:
            return rule
    return "other"


def needs_a_look(risk: Risk) -> bool:
    return risk.tier < RiskTier.OLDER


def is_actionable(episode: EpisodeFact) -> bool:
    """An episode that keeps its client on the list: new and open (an open ceiling run
    however old), or an unrepaired or pending rupture (acknowledged or not)."""
    new = episode.recent or episode.kind == Episode.Kind.CEILING
    return (episode.is_open and new) or (
        episode.kind == Episode.Kind.RUPTURE
        and episode.repair_status in (Episode.RepairStatus.UNREPAIRED, Episode.RepairStatus.PENDING)
    )


def _text(message: str, episode: EpisodeFact) -> Callable[[], str]:
    """The translated ``message`` (marked with gettext_noop) with the episode's session
    number, when called."""
    return functools.partial(_session_text, message, episode.session)


def _session_text(message: str, number: int) -> str:
    return _(message) % {"number": number}


def _unrepaired_text(number: int, acknowledged: bool) -> str:
    text = _("Unrepaired drop at session %(number)d") % {"number": number}
    return f"{text} {_('(acknowledged)')}" if acknowledged else text


def _missing_forms_text(count: int) -> str:
    return ngettext(
        "No client form for the last %(count)d session",
        "No client form for the last %(count)d sessions",
        count,
    ) % {"count": count}


def episode_facts(
    client_ids: list[int] | None = None,
    *,
    clients: QuerySet[Client] | None = None,
    resolved: bool = False,
) -> dict[int, list[EpisodeFact]]:
    """The active, unresolved (``resolved``: all active) episodes of these clients
    (``client_ids``, or the ``clients`` queryset) with the rules of their active flags, by
    client: one query (one row per flag, regrouped here)."""
    flags = Flag.objects.active().filter(episode__retired_at__isnull=True)
    if not resolved:
        flags = flags.exclude(episode__status=Episode.Status.RESOLVED)
    if clients is not None:
        flags = flags.filter(client__in=clients)
    else:
        flags = flags.filter(client_id__in=client_ids)
    rows = flags.values_list(
        "episode_id",
        "episode__client_id",
        "episode__kind",
        "episode__status",
        "episode__repair_status",
        "episode__session__number",
        "episode__last_session__starts_at",
        "episode__last_session__number",
        "rule",
    ).order_by()
    found: dict[int, tuple] = {}
    rules: dict[int, set[str]] = defaultdict(set)
    for episode_id, client_id, kind, status, repair, number, last_at, last, rule in rows:
        found[episode_id] = (client_id, kind, status, repair or "", number, (last_at, last))
        rules[episode_id].add(rule)
    held = TherapySession.objects.completed()
    cutoffs = _recent_cutoffs(
        held.filter(client__in=clients)
        if clients is not None
        else held.filter(client_id__in=client_ids)
    )
    facts: dict[int, list[EpisodeFact]] = defaultdict(list)
    for episode_id, (client_id, kind, status, repair, number, last) in found.items():
        cutoff = cutoffs.get(client_id)
        facts[client_id].append(
            EpisodeFact(
                episode_id,
                kind,
                status,
                repair,
                number,
                frozenset(rules[episode_id]),
                recent=cutoff is None or last >= cutoff,
            )
        )
    return facts


def _recent_cutoffs(held: QuerySet[TherapySession]) -> dict[int, tuple[dt.datetime, int]]:
    """(start, number) of each client's RECENT_SESSIONS-th latest ``held`` session, for
    clients who have held that many: one query (a window function keeps it small)."""
    rows = (
        held.annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("client_id")],
                order_by=[F("starts_at").desc(), F("number").desc()],
            )
        )
        .filter(position=RECENT_SESSIONS)
        .values_list("client_id", "starts_at", "number")
        .order_by()
    )
    return {client_id: (starts_at, number) for client_id, starts_at, number in rows}


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
    if value and value.removeprefix("-") in selectors.CASELOAD_SORTS:
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
    """A row for each client of the caseload (``selectors.caseload_for``) with its risk
    (``risk_assess``) and sparkline points (``CaseloadRow``).

    Sorted by risk tier, then the lowest latest client total, then code; or by any caseload
    sort. Three queries.
    """
    sort = caseload_sort(sort)
    by_risk = sort.removeprefix("-") == RISK_SORT
    clients = selectors.caseload_for(
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
    ``selectors.caseload_for``), in the order given: two queries."""
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

    ``client`` has the caseload columns (``selectors.annotate_alliance``); ``risk`` says
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
    ranking: list[selectors.RankingRow] = field(default_factory=list)
    facts: dict[int, list[EpisodeFact]] = field(default_factory=dict)
    page: Page | None = None  # which part of the queue ``rows`` are


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
    ranking = selectors.queue_ranking(viewer, [t.pk for t in therapists], sessions=0)
    facts = episode_facts([row.pk for row in ranking])
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
    found = {c.pk: c for c in selectors.caseload_for(viewer).filter(pk__in=list(risks))}
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


# --- periods -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end`` inclusive, in the clinic's timezone."""

    start: dt.date
    end: dt.date
    tz: dt.tzinfo

    @property
    def start_at(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), self.tz)

    @property
    def end_at(self) -> dt.datetime:
        """Midnight after the last day (exclusive)."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), self.tz)

    def weeks(self) -> list[dt.date]:
        """The Mondays of the weeks the period touches."""
        monday = self.start - dt.timedelta(days=self.start.weekday())
        return [monday + dt.timedelta(weeks=n) for n in range((self.end - monday).days // 7 + 1)]

    def months(self) -> list[dt.date]:
        """The first days of the months the period touches."""
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = (month + dt.timedelta(days=32)).replace(day=1)
        return months

    @classmethod
    def weeks_to(cls, end: dt.date, weeks: int, tz) -> "Period":
        """``weeks`` calendar weeks (Monday to Sunday) ending with the week of ``end``."""
        monday = end - dt.timedelta(days=end.weekday())
        return cls(start=monday - dt.timedelta(weeks=weeks - 1), end=end, tz=tz)

    @classmethod
    def months_to(cls, end: dt.date, months: int, tz) -> "Period":
        """``months`` calendar months ending with the month of ``end``."""
        first = end.replace(day=1)
        year, month = divmod(first.year * 12 + first.month - 1 - (months - 1), 12)
        return cls(start=dt.date(year, month + 1, 1), end=end, tz=tz)


def today_in(clinic: Clinic | None) -> dt.date:
    return timezone.localdate(timezone=clinic.tzinfo if clinic else None)


# --- per-therapist figures -------------------------------------------------------------------


@dataclass
class TherapistFigures:
    """A supervisee's row on the supervision dashboard and in the packet."""

    summary: selectors.TherapistSummary  # active clients, mean client alliance, open flags
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

    From ``selectors.therapist_summaries`` (shared with the API and the clinic page): active
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
        SUMMARY_SPAN: (end - dt.timedelta(days=selectors.COMPLETION_DAYS), end),
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
    summaries = selectors.therapist_summaries(
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
# and the days of the therapist summaries' completion (selectors.COMPLETION_DAYS).
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


def _period_means(
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


# --- one client's series, for the chart ------------------------------------------------------

CHART_SCALES = ("total", "bond", "goal", "task")
CHART_SCORE_COLUMNS = ["rater", "scale", "session", "score"]
SUBSCALES = CHART_SCALES[1:]


@dataclass
class ClientSeries:
    """What the client chart draws (see charts.client_alliance_figure_dict for the columns)."""

    client: Client
    scores: pd.DataFrame
    sessions: pd.DataFrame
    flags: pd.DataFrame


SESSION_COLUMNS = ["session", "date", "status", "day"]
FLAG_COLUMNS = [
    "session",
    "rater",
    "scale",
    "rule",
    "label",
    "repair_status",
    "status",
    "explanation",
    "episode",
    "episode_repair_status",
]


@functools.lru_cache(maxsize=4096)
def _day_label(day: dt.date, language: str) -> str:
    """A day as the charts label it, in ``language``: formatted once per day and language,
    not once per session (a packet labels thousands of sessions held on a few hundred
    days)."""
    with translation.override(language):
        return formats.date_format(day, "D j M Y")


# What the charts read of a session and of a flag, as plain values: a packet reads a hundred
# clients' thousands of rows without building a model instance for each. A page that has
# the instances already gives their values in the same order (_session_values, _flag_values).
SESSION_FIELDS = ("number", "starts_at", "status")
FLAG_FIELDS = (
    "session__number",
    "rater",
    "scale",
    "rule",
    "repair_status",
    "episode__status",
    "explanation",
    "episode_id",
    "episode__repair_status",
)


def _session_values(session: TherapySession) -> tuple:
    return (session.number, session.starts_at, session.status)


def _flag_values(flag: Flag) -> tuple:
    return (
        flag.session.number,
        flag.rater,
        flag.scale,
        flag.rule,
        flag.repair_status,
        flag.episode.status,  # set by the episode's prefetch of its flags: no query
        flag.explanation,
        flag.episode_id,
        flag.episode.repair_status,
    )


def _sessions_frame(sessions: list[tuple], tz) -> pd.DataFrame:
    """``sessions``: (number, starts_at, status) in SESSION_FIELDS order."""
    language = get_language()
    rows = []
    for number, starts_at, status in sessions:
        day = timezone.localtime(starts_at, tz).date()
        rows.append((number, _day_label(day, language), status, day.isoformat()))
    return pd.DataFrame.from_records(rows, columns=SESSION_COLUMNS)


def _flags_frame(flags: list[tuple]) -> pd.DataFrame:
    """``flags``: active flags in FLAG_FIELDS order; each labelled with its rule's name."""
    return pd.DataFrame.from_records(
        [
            (
                number,
                rater,
                scale,
                rule,
                str(rule_label(rule)),
                repair or "",
                status,
                text,
                episode,
                episode_repair or "",
            )
            for number, rater, scale, rule, repair, status, text, episode, episode_repair in flags
        ],
        columns=FLAG_COLUMNS,
    )


def _chart_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The engine's scores by session number (the engine's ``session`` is a position)."""
    charted = scores[scores["scale"].isin(CHART_SCALES)]
    return charted[["rater", "scale", "number", "score"]].rename(columns={"number": "session"})


def client_series(client: Client, *, sessions, flags) -> ClientSeries:
    """One client's series from the page's ``sessions`` (in course order) and active
    ``flags`` (their sessions loaded), and ``selectors.scores_frame`` (the rupture engine's
    own input, so markers sit where the engine saw the scores): one query."""
    scores = selectors.scores_frame(Client.objects.filter(pk=client.pk)).scores
    return ClientSeries(
        client=client,
        scores=_chart_scores(scores),
        sessions=_sessions_frame([_session_values(s) for s in sessions], client.clinic.tzinfo),
        flags=_flags_frame([_flag_values(f) for f in flags]),
    )


def clients_series(clients: list[Client], *, tz: dt.tzinfo) -> dict[int, ClientSeries]:
    """The series of several clients of one clinic (a packet) in three queries; dates in
    ``tz``, the clinic's timezone."""
    if not clients:
        return {}
    ids = [c.pk for c in clients]
    scores = selectors.scores_frame(Client.objects.filter(pk__in=ids)).scores
    # Filtered once, not once per client: a packet has a hundred.
    charted = _chart_scores(scores).assign(client=scores["client"])
    by_client_scores = dict(list(charted.groupby("client")[CHART_SCORE_COLUMNS]))
    sessions = defaultdict(list)
    for client_id, *session in (
        TherapySession.objects.filter(client_id__in=ids)
        .order_by("client_id", "number")
        .values_list("client_id", *SESSION_FIELDS)
    ):
        sessions[client_id].append(session)
    flags = defaultdict(list)
    for client_id, *flag in (
        Flag.objects.active()
        .filter(client_id__in=ids)
        .order_by("pk")
        .values_list("client_id", *FLAG_FIELDS)
    ):
        flags[client_id].append(flag)
    empty = pd.DataFrame(columns=CHART_SCORE_COLUMNS)
    result = {}
    for client in clients:
        result[client.pk] = ClientSeries(
            client=client,
            scores=by_client_scores.get(client.pk, empty),
            sessions=_sessions_frame(sessions[client.pk], tz),
            flags=_flags_frame(flags[client.pk]),
        )
    return result


# --- figures on pages ------------------------------------------------------------------------

# JSON in a <script type="application/json"> block: as django.utils.html.json_script escapes.
_JSON_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def figure_json(fig) -> SafeString:
    """The figure (a plotly Figure, or a charts figure of plain dicts) serialised once, safe
    inside <script type="application/json">."""
    text = charts.figure_dict_json(fig) if isinstance(fig, dict) else fig.to_json()
    # Not markup built from values: JSON with <, > and & escaped, as json_script marks safe.
    return mark_safe(text.translate(_JSON_SCRIPT_ESCAPES))  # noqa: S308


def chart_text() -> charts.ChartText:
    """The figures' words in the active language."""
    return _chart_text(get_language())


@functools.lru_cache(maxsize=16)
def _chart_text(language: str) -> charts.ChartText:
    """Once per language, not once per chart: a packet draws a hundred."""
    with translation.override(language):
        return charts.ChartText(
            session=_("Session"),
            score=_("Score"),
            week=_("Week"),
            month=_("Month"),
            clients=_("Clients"),
            flags=_("Flags"),
            mean=_("Mean total"),
            raters={"client": _("Client-rated"), "therapist": _("Therapist-rated")},
            scales={"total": _("total"), "bond": _("bond"), "goal": _("goal"), "task": _("task")},
            repair={
                "unrepaired": _("Unrepaired"),
                "repaired": _("Repaired"),
                "pending": _("Pending"),
            },
            signal=_("Other signal"),
            baseline=_("Baseline (first 3 client totals)"),
            no_data=_("No ratings yet"),
            latest_client_total=_("Latest client-rated total"),
            client_total_mean=_("Client-rated total, mean"),
            therapist_total_mean=_("Therapist-rated total, mean"),
        )


@dataclass
class Chart:
    """A figure ready for includes/chart.html: its JSON, a summary sentence and a table."""

    id: str
    json: SafeString
    summary: str
    title: str = ""
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list] = field(default_factory=list)
    css: str = ""


def _score_text(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{float(value):.2f}"


def client_chart(
    series: ClientSeries,
    *,
    scale_range: tuple[float, float],
    chart_id: str,
    width: int | None = None,
    height: int = 420,
) -> Chart:
    """The client's alliance chart with its text alternative: a sentence with the latest
    values, the baseline and the flags, and a table of every session."""
    text = chart_text()
    # Plain dicts, serialised without plotly.py's validation (the same JSON, a tenth the time).
    figure = charts.client_alliance_figure_dict(
        series.scores,
        series.sessions,
        series.flags,
        scale_range=scale_range,
        text=text,
        width=width,
        height=height,
    )
    numbers = charts.session_numbers(series.scores, series.sessions)
    table = charts.series_table(series.scores, numbers)
    client_totals = table.get((Rater.CLIENT, "total"), [None] * len(numbers))
    therapist_totals = table.get((Rater.THERAPIST, "total"), [None] * len(numbers))
    dates = dict(zip(series.sessions["session"], series.sessions["date"], strict=True))
    statuses = dict(zip(series.sessions["session"], series.sessions["status"], strict=True))
    status_labels = dict(TherapySession.Status.choices)
    flags = charts.frame_records(series.flags)
    labels_at: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in flags:
        labels_at[int(row["session"])][row["repair_status"]].add(str(row["label"]))
    flag_labels = {
        number: [
            f"{text.repair[status]}: {', '.join(sorted(labels))}"
            if status in text.repair
            else ", ".join(sorted(labels))
            for status, labels in by_status.items()
        ]
        for number, by_status in labels_at.items()
    }
    rows = [
        [
            number,
            dates.get(number, ""),
            str(status_labels.get(statuses.get(number), "—")),
            _score_text(client),
            _score_text(therapist),
            "; ".join(flag_labels.get(number, [])),
        ]
        for number, client, therapist in zip(numbers, client_totals, therapist_totals, strict=True)
    ]
    return Chart(
        id=chart_id,
        json=figure_json(figure),
        summary=_client_summary(
            series, flags, numbers, client_totals, therapist_totals, dates, text
        ),
        title=_("Alliance by session"),
        table_head=[
            _("Session"),
            _("Date"),
            _("Status"),
            _("Client-rated total"),
            _("Therapist-rated total"),
            _("Flags"),
        ],
        table_rows=rows,
    )


def _client_summary(series, flags, numbers, client_totals, therapist_totals, dates, text) -> str:
    parts = []
    latest = next(
        (
            (n, v)
            for n, v in zip(reversed(numbers), reversed(client_totals), strict=True)
            if v is not None
        ),
        None,
    )
    if latest is None:
        parts.append(_("No client-rated totals yet."))
    else:
        parts.append(
            _("Latest client-rated total %(value)s at session %(number)d (%(date)s).")
            % {"value": f"{latest[1]:.2f}", "number": latest[0], "date": dates.get(latest[0], "")}
        )
    latest_t = next(
        (
            (n, v)
            for n, v in zip(reversed(numbers), reversed(therapist_totals), strict=True)
            if v is not None
        ),
        None,
    )
    if latest_t is not None:
        parts.append(
            _("Latest therapist-rated total %(value)s at session %(number)d.")
            % {"value": f"{latest_t[1]:.2f}", "number": latest_t[0]}
        )
    statuses = dict(zip(series.sessions["session"], series.sessions["status"], strict=True))
    completed = [n for n in numbers if statuses.get(n) == TherapySession.Status.COMPLETED]
    missing = [
        n for n, v in zip(numbers, client_totals, strict=True) if v is None and n in completed
    ]
    if missing:
        parts.append(
            ngettext(
                "%(count)d of %(total)d completed sessions has no client-rated total "
                "(a gap in the line).",
                "%(count)d of %(total)d completed sessions have no client-rated total "
                "(gaps in the line).",
                len(missing),
            )
            % {"count": len(missing), "total": len(completed)}
        )
    band = charts.baseline_band(series.scores)
    if band is not None:
        parts.append(
            _("Baseline (sessions %(sessions)s): %(mean)s ± %(sd)s.")
            % {
                "sessions": ", ".join(str(n) for n in band[2]),
                "mean": f"{band[0]:.2f}",
                "sd": f"{band[1]:.2f}",
            }
        )
    for status in charts.REPAIR_ORDER:
        sessions = sorted(
            {
                int(row["session"])
                for row in flags
                if row["repair_status"] == status
                and row["rater"] == Rater.CLIENT
                and row["scale"] == "total"
            }
        )
        if sessions:
            parts.append(
                _("%(status)s drop in the client-rated total at session %(numbers)s.")
                % {
                    "status": text.repair[status],
                    "numbers": ", ".join(str(n) for n in sessions),
                }
            )
    if flags:
        parts.append(
            ngettext(
                "%(count)d flag in all: see the table and the flag list.",
                "%(count)d flags in all: see the table and the flag list.",
                len(flags),
            )
            % {"count": len(flags)}
        )
    return " ".join(parts)


def client_page_chart(client: Client, *, sessions, flags) -> Chart:
    """The chart on the client's page, from the sessions and flags the page has loaded."""
    return client_chart(
        client_series(client, sessions=sessions, flags=flags),
        scale_range=scale_range_for(client.clinic),
        chart_id="chart-client",
    )


def histogram_rows(latest: pd.Series, scale_range) -> list[tuple[str, int]]:
    """The histogram's bins and counts, as the chart's table."""
    _edges, counts, labels = charts.histogram_bins(latest, scale_range=scale_range)
    return list(zip(labels, counts.tolist(), strict=True))


def monthly_rows(monthly: pd.DataFrame) -> list[list]:
    """Month, client-rated mean (n), therapist-rated mean (n): the trend chart's table."""
    rows = []
    for month, group in monthly.groupby("month", sort=True):
        cells = [formats.date_format(month, "M Y")]
        for rater in (Rater.CLIENT, Rater.THERAPIST):
            found = group[group["rater"] == rater]
            n = int(found["n"].iloc[0]) if len(found) else 0
            cells.append(f"{_score_text(found['mean'].iloc[0])} (n={n})" if n else "—")
        rows.append(cells)
    return rows


def supervision_chart(weekly: pd.DataFrame, *, scale_range, chart_id: str) -> Chart:
    """Weekly mean client total per therapist, with a table of the same numbers."""
    text = chart_text()
    fig = charts.therapists_weekly_figure_dict(weekly, scale_range=scale_range, text=text)
    therapists = list(dict.fromkeys(weekly["therapist"]))
    weeks = sorted(set(weekly["week"]))
    lookup = {}
    sums = {name: [0.0, 0] for name in therapists}  # the period's mean, weighted by n
    for row in weekly.itertuples(index=False):
        lookup[row.therapist, row.week] = (row.mean, row.n)
        if row.n:
            sums[row.therapist][0] += row.mean * row.n
            sums[row.therapist][1] += row.n
    rows = [
        [formats.date_format(week, "j M Y")]
        + [
            f"{_score_text(lookup[name, week][0])} (n={lookup[name, week][1]})"
            if lookup.get((name, week), (None, 0))[1]
            else "—"
            for name in therapists
        ]
        for week in weeks
    ]
    summary = " ".join(
        _("%(name)s: mean client-rated total %(mean)s over the period.")
        % {"name": name, "mean": _score_text(total / n if n else None)}
        for name, (total, n) in sums.items()
    )
    return Chart(
        id=chart_id,
        json=figure_json(fig),
        summary=summary or _("No client-rated totals in this period."),
        title=_("Weekly mean client-rated total by therapist"),
        table_head=[_("Week of"), *therapists],
        table_rows=rows,
    )


# --- supervision packet ------------------------------------------------------------------------


@dataclass
class Packet:
    """A printable packet: a therapist's clients (or one client) with their charts."""

    rows: list[CaseloadRow]  # risk-ranked
    series: dict[int, ClientSeries]
    period: Period
    therapist: User | None = None
    figures: TherapistFigures | None = None
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE


def packet_for_therapist(
    viewer: User, therapist: User, *, period: Period, attention_only: bool = False
) -> Packet:
    """A therapist's active primary clients, most at risk first (``attention_only``: those
    with a reason to look), with the therapist's figures. A fixed number of queries."""
    rows = caseload_rows(viewer, therapist=therapist)
    if attention_only:
        rows = [row for row in rows if needs_a_look(row.risk)]
    [figures] = therapist_figures(viewer, [therapist], period=period)
    return Packet(
        rows=rows,
        series=clients_series([row.client for row in rows], tz=period.tz),
        period=period,
        therapist=therapist,
        figures=figures,
        scale_range=scale_range_for(viewer.clinic),
    )


def packet_for_client(viewer: User, client: Client, *, period: Period) -> Packet:
    """One client's packet (discharged clients too)."""
    clients = list(selectors.caseload_for(viewer, include_discharged=True).filter(pk=client.pk))
    return Packet(
        rows=caseload_rows_for(viewer, clients),
        series=clients_series(clients, tz=period.tz),
        period=period,
        scale_range=scale_range_for(client.clinic),
    )


def packet_frames(packet: Packet) -> dict[str, pd.DataFrame]:
    """The packet's numbers as tables (sheet name -> frame), for CSV and Excel."""
    frames = {}
    if packet.figures is not None:
        f = packet.figures
        frames["Therapist"] = pd.DataFrame(
            [
                {
                    "therapist": str(f.therapist),
                    "period_start": packet.period.start.isoformat(),
                    "period_end": packet.period.end.isoformat(),
                    "active_clients": f.summary.active_clients,
                    "mean_client_alliance": f.summary.mean_client_alliance,
                    "trend_12_weeks": f.trend,
                    "mean_last_12_weeks": f.mean_recent,
                    "mean_previous_12_weeks": f.mean_previous,
                    "completed_sessions": f.completed,
                    "with_client_form": f.with_client_form,
                    "client_form_rate": f.completion_rate,
                    "open_episodes": f.summary.open_episodes,
                    "clients_unrepaired_rupture": f.unrepaired,
                    "clients_pending_rupture": f.pending,
                    "flags_acknowledged_90_days": f.acknowledged,
                    "median_hours_to_acknowledge": f.median_acknowledge_hours,
                }
            ]
        )
    frames["Clients"] = pd.DataFrame(
        [
            {
                "client_code": row.client.code,
                "therapist": str(row.client.primary_therapist),
                "status": row.client.status,
                "risk_rank": position,
                "risk_tier": row.risk.label,
                "reason": row.risk.reason,
                "all_reasons": "; ".join(row.risk.reasons),
                "latest_client_total": row.client.latest_client_total,
                "client_change": row.client_change,
                "latest_therapist_total": row.client.latest_therapist_total,
                "therapist_change": row.therapist_change,
                "open_episodes": row.client.open_episodes,
                "sessions_since_client_form": row.client.sessions_since_client_form,
            }
            for position, row in enumerate(packet.rows, start=1)
        ],
        columns=PACKET_CLIENT_COLUMNS,
    )
    session_rows, flag_rows = [], []
    for client in (row.client for row in packet.rows):
        series = packet.series[client.pk]
        numbers = charts.session_numbers(series.scores, series.sessions)
        table = charts.series_table(series.scores, numbers)
        values = {
            (rater, scale): table.get((rater, scale), [None] * len(numbers))
            for rater in (Rater.CLIENT.value, Rater.THERAPIST.value)
            for scale in CHART_SCALES
        }
        days = dict(zip(series.sessions["session"], series.sessions["day"], strict=True))
        statuses = dict(zip(series.sessions["session"], series.sessions["status"], strict=True))
        labels = series.flags.groupby("session")["rule"].apply(lambda r: ", ".join(sorted(set(r))))
        for index, number in enumerate(numbers):
            row = {
                "client_code": client.code,
                "session": number,
                "date": days.get(number, ""),
                "status": statuses.get(number, ""),
            }
            for (rater, scale), series_values in values.items():
                row[f"{rater}_{scale}"] = series_values[index]
            row["flags"] = labels.get(number, "")
            session_rows.append(row)
        for flag in series.flags.itertuples(index=False):
            flag_rows.append(
                {
                    "client_code": client.code,
                    "session": flag.session,
                    "rater": flag.rater,
                    "scale": flag.scale,
                    "rule": flag.rule,
                    "repair_status": flag.repair_status,
                    "status": flag.status,
                    "explanation": flag.explanation,
                    "episode": flag.episode,
                }
            )
    frames["Sessions"] = pd.DataFrame(session_rows, columns=PACKET_SESSION_COLUMNS)
    frames["Flags"] = pd.DataFrame(flag_rows, columns=PACKET_FLAG_COLUMNS)
    return frames


PACKET_CLIENT_COLUMNS = [
    "client_code",
    "therapist",
    "status",
    "risk_rank",
    "risk_tier",
    "reason",
    "all_reasons",
    "latest_client_total",
    "client_change",
    "latest_therapist_total",
    "therapist_change",
    "open_episodes",
    "sessions_since_client_form",
]
PACKET_SESSION_COLUMNS = (
    ["client_code", "session", "date", "status"]
    + [f"{rater}_{scale}" for rater in ("client", "therapist") for scale in CHART_SCALES]
    + ["flags"]
)
PACKET_FLAG_COLUMNS = [
    "client_code",
    "session",
    "rater",
    "scale",
    "rule",
    "repair_status",
    "status",
    "explanation",
    "episode",
]


# --- clinic overview ---------------------------------------------------------------------------


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
            selectors.annotate_latest_client_total(visible.active())
            .values_list("latest_client_total", flat=True)
            .order_by()
        ),
        dtype=float,
    )

    completion = selectors.completion_by_therapist(
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
    found = _period_means(
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
