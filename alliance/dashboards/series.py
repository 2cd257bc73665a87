"""One client's series and the figures on pages: the client chart, the supervision chart,
their text alternatives and the JSON the page's plotly.js draws."""

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd
from django.utils import formats, timezone, translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from alliance import charts
from alliance.dashboards.scales import scale_range_for
from alliance.flags import selectors as flag_selectors
from alliance.flags.rules import rule_label
from alliance.models import Client, Flag
from measures.models import Rater
from sessions.models import TherapySession

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


def client_series(
    client: Client, *, sessions, flags, frame: flag_selectors.ScoresFrame | None = None
) -> ClientSeries:
    """One client's series from the page's ``sessions`` (in course order) and active
    ``flags`` (their sessions loaded), and the client's scores ``frame`` (the rupture
    engine's own input, so markers sit where the engine saw the scores;
    ``flag_selectors.client_scores_frame``, one query, unless the caller has read it)."""
    scores = (frame or flag_selectors.client_scores_frame(client)).scores
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
    scores = flag_selectors.scores_frame(Client.objects.filter(pk__in=ids)).scores
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


def client_page_chart(
    client: Client, *, sessions, flags, frame: flag_selectors.ScoresFrame | None = None
) -> Chart:
    """The chart on the client's page, from the sessions, flags and scores frame the page
    has loaded."""
    return client_chart(
        client_series(client, sessions=sessions, flags=flags, frame=frame),
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
