"""Plotly figures and sparklines for the dashboards, built from pandas frames.

Pure functions: no Django imports, no database. The Django layer (alliance/dashboards/)
reads the numbers and passes translated labels in a ``ChartText``; pages serialise each
figure once and the locally served plotly.js draws it. The figures drawn on every client
page and supervision dashboard are built as plain dicts (``client_alliance_figure_dict``,
``therapists_weekly_figure_dict``) and serialised by ``figure_dict_json`` without plotly.py's
per-property validation, which costs more than building the numbers; the tests wrap them in
``go.Figure`` to validate every property, and check they serialise to the same JSON.

Readable in greyscale and for colour-blind readers: the Okabe-Ito palette (Okabe & Ito
2008), and every series also differs by dash style and marker symbol; flag markers differ by
symbol, fill and a text label, never by colour alone.
"""

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from textwrap import wrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour
# vision deficiency.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
# One (colour, dash, marker symbol) per series, so no two series differ by colour alone.
SERIES_STYLE = {
    ("client", "total"): (OKABE_ITO["blue"], "solid", "circle"),
    ("therapist", "total"): (OKABE_ITO["vermillion"], "dash", "square"),
    ("client", "bond"): (OKABE_ITO["bluish_green"], "dot", "diamond"),
    ("client", "goal"): (OKABE_ITO["orange"], "dashdot", "triangle-up"),
    ("client", "task"): (OKABE_ITO["reddish_purple"], "longdash", "triangle-down"),
    ("therapist", "bond"): (OKABE_ITO["bluish_green"], "longdashdot", "diamond-open"),
    ("therapist", "goal"): (OKABE_ITO["orange"], "dash", "triangle-up-open"),
    ("therapist", "task"): (OKABE_ITO["reddish_purple"], "dot", "triangle-down-open"),
}
# Lines for several therapists (one each): colours, dashes and symbols cycle independently.
LINE_COLOURS = [
    OKABE_ITO[name]
    for name in ("blue", "vermillion", "bluish_green", "reddish_purple", "orange", "sky_blue")
] + [OKABE_ITO["black"]]
LINE_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
LINE_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "triangle-down", "x", "star"]

# Flag markers by repair status: symbol, fill and label differ, not only the colour.
FLAG_STYLE = {
    # Solid black downward triangle: the darkest mark on the chart.
    "unrepaired": {"symbol": "triangle-down", "color": OKABE_ITO["black"], "size": 16},
    # An open ring around the point: the score came back.
    "repaired": {"symbol": "circle-open", "color": OKABE_ITO["bluish_green"], "size": 20},
    # An open diamond with a dot: not known yet.
    "pending": {"symbol": "diamond-open-dot", "color": OKABE_ITO["orange"], "size": 16},
}
# Signals without a repair (tension, discrepancy, ceiling, missing forms, low alliance) sit
# on a strip above the scale so they never hide a score.
SIGNAL_STYLE = {"symbol": "star", "color": OKABE_ITO["sky_blue"], "size": 14}
REPAIR_ORDER = ("unrepaired", "pending", "repaired")
SUBSCALES = ("bond", "goal", "task")
# The baseline: mean ± SD of the client's first three client-rated totals (docs/dashboards.md).
BASELINE_SESSIONS = 3
HOVER_WIDTH = 70
# On paper the legend sits below the plot in entries of this width (px).
LEGEND_ENTRY_WIDTH = 190
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif"


@dataclass(frozen=True)
class ChartText:
    """Every word a figure shows, so the Django layer can translate them."""

    session: str = "Session"
    score: str = "Score"
    week: str = "Week"
    month: str = "Month"
    clients: str = "Clients"
    flags: str = "Flags"
    mean: str = "Mean"
    raters: dict[str, str] = field(
        default_factory=lambda: {"client": "Client-rated", "therapist": "Therapist-rated"}
    )
    scales: dict[str, str] = field(
        default_factory=lambda: {"total": "total", "bond": "bond", "goal": "goal", "task": "task"}
    )
    repair: dict[str, str] = field(
        default_factory=lambda: {
            "unrepaired": "Unrepaired",
            "repaired": "Repaired",
            "pending": "Pending",
        }
    )
    signal: str = "Other signal"
    baseline: str = "Baseline (first 3 client totals)"
    no_data: str = "No ratings yet"
    latest_client_total: str = "Latest client-rated total"
    client_total_mean: str = "Client-rated total, mean"
    therapist_total_mean: str = "Therapist-rated total, mean"

    def series(self, rater: str, scale: str) -> str:
        return f"{self.raters.get(rater, rater)} {self.scales.get(scale, scale)}"


def _none_for_nan(values: Iterable) -> list:
    """Plotly draws a gap at None; NaN would be serialised as NaN (invalid JSON)."""
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values]


def _hover_lines(text: str) -> str:
    return "<br>".join(escape(line) for line in wrap(text, HOVER_WIDTH)) or ""


def frame_records(frame: pd.DataFrame) -> list[dict]:
    """The frame's rows as dicts, as ``frame.to_dict("records")`` gives them, read a column
    at a time: for one client's tens of flags, pandas' row-wise conversion cost more than
    the rows (a packet converts a hundred clients' flags)."""
    columns = list(frame.columns)
    return [
        dict(zip(columns, row, strict=True))
        for row in zip(*(frame[column].tolist() for column in columns), strict=True)
    ]


def session_numbers(scores: pd.DataFrame, sessions: pd.DataFrame) -> list[int]:
    """Every session number from 1 to the last one known, gaps included."""
    known = [*scores.get("session", []), *sessions.get("session", [])]
    last = int(max(known, default=0))
    return list(range(1, last + 1))


def held_session_numbers(scores: pd.DataFrame, sessions: pd.DataFrame) -> list[int]:
    """The numbers of the held (completed) sessions, in order: the alliance lines' x values.

    The rupture engine's positions are the held sessions, so the lines join held sessions
    and a cancelled, missed or scheduled session is no gap in them (docs/ruptures.md).
    """
    held = [
        number
        for number, status in zip(
            sessions.get("session", []), sessions.get("status", []), strict=True
        )
        if status == "completed"
    ]
    return sorted({*(int(n) for n in held), *(int(n) for n in scores.get("session", []))})


def series_values(
    scores: pd.DataFrame, rater: str, scale: str, numbers: Sequence[int]
) -> list[float | None]:
    """One rater's scale scores at each session number; None where there is none (a gap)."""
    return series_table(scores, numbers).get((rater, scale), [None] * len(numbers))


def series_table(
    scores: pd.DataFrame, numbers: Sequence[int]
) -> dict[tuple[str, str], list[float | None]]:
    """Every (rater, scale) series at each session number, None where there is no score.
    If a session has two scores for a series, the last row counts."""
    position = {number: index for index, number in enumerate(numbers)}
    table: dict[tuple[str, str], list[float | None]] = {}
    for rater, scale, number, score in _score_rows(scores):
        index = position.get(number)
        if index is not None:
            series = table.setdefault((rater, scale), [None] * len(position))
            series[index] = round(score, 4)
    return table


def _score_rows(scores: pd.DataFrame) -> Iterable[tuple[str, str, int, float]]:
    """(rater, scale, session, score) of each row with a score, in frame order: one client's
    few hundred rows are read faster as Python lists than through pandas filters."""
    columns = (scores[name].tolist() for name in ("rater", "scale", "session", "score"))
    for rater, scale, number, score in zip(*columns, strict=True):
        if score is not None and score == score:  # NaN != NaN: a missing score
            yield str(rater), str(scale), int(number), float(score)


def baseline_band(scores: pd.DataFrame) -> tuple[float, float, list[int]] | None:
    """(mean, SD, session numbers) of the first three client-rated totals, or None.

    Sessions without a client form are skipped: the band is where this client started, from
    their first three answers. SD is the sample SD (n - 1).
    """
    by_session = {  # if a session has two client totals, the last row counts
        number: score
        for rater, scale, number, score in _score_rows(scores)
        if rater == "client" and scale == "total"
    }
    sessions = sorted(by_session)[:BASELINE_SESSIONS]
    if len(sessions) < BASELINE_SESSIONS:
        return None
    values = np.array([by_session[n] for n in sessions])
    return float(values.mean()), float(values.std(ddof=1)), sessions


def _axis(title: str, **extra) -> dict:
    # None leaves a property at plotly's default (go.Figure drops it; so must a plain dict).
    extra = {key: value for key, value in extra.items() if value is not None}
    return {
        "title": {"text": title, "standoff": 10},
        "automargin": True,
        "showgrid": True,
        "gridcolor": "#e1e4e8",
        "zeroline": False,
        "linecolor": "#57606a",
        "ticks": "outside",
        **extra,
    }


def _layout(*, height: int, width: int | None, x: dict, y: dict, legend_entries: int = 0) -> dict:
    """Axes, fonts and margins. On screen (no ``width``) the legend sits beside the plot,
    one entry a line; on paper (a fixed ``width``) it sits below, in rows of three, with the
    bottom margin made for them, so a narrow page keeps a wide plot."""
    layout = {
        "template": "none",
        "height": height,
        "font": {"family": FONT, "size": 13, "color": "#1b1f24"},
        "margin": {"l": 56, "r": 16, "t": 16, "b": 56},
        "legend": {
            "orientation": "v",
            "x": 1.02,
            "xanchor": "left",
            "y": 1,
            "yanchor": "top",
            "font": {"size": 11},
            # Each series has its own legend group (its flags follow it): no gap between groups.
            "tracegroupgap": 0,
        },
        "xaxis": x,
        "yaxis": y,
        "hovermode": "closest",
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
    }
    if width:
        layout["width"] = width
        per_row = max((width - 80) // LEGEND_ENTRY_WIDTH, 1)
        rows = -(-legend_entries // per_row)
        layout["margin"]["b"] = 72 + 26 * rows
        layout["legend"] = {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 0,
            "yref": "container",
            "yanchor": "bottom",
            "entrywidth": LEGEND_ENTRY_WIDTH,
            "font": {"size": 11},
        }
    else:
        layout["autosize"] = True
    return layout


def _score_axis(scale_range: tuple[float, float], title: str, *, strip: bool = False) -> dict:
    low, high = scale_range
    ticks = list(np.arange(low, high + 0.001, 1.0 if high - low <= 10 else 2.0))
    return _axis(
        title,
        range=[low - 0.15, high + (0.6 if strip else 0.15)],
        tickvals=[float(t) for t in ticks],
        fixedrange=True,
    )


def _date_of(sessions: pd.DataFrame, numbers: Sequence[int]) -> list[str]:
    dates = dict(zip(sessions.get("session", []), sessions.get("date", []), strict=True))
    return [dates.get(n, "") for n in numbers]


def client_alliance_figure_dict(
    scores: pd.DataFrame,
    sessions: pd.DataFrame,
    flags: pd.DataFrame,
    *,
    scale_range: tuple[float, float],
    text: ChartText | None = None,
    height: int = 420,
    width: int | None = None,
) -> dict:
    """One client's alliance by held session (for paper when ``width`` is given: the
    bond/goal/task lines, which only a click would show, are left out).

    Inputs: ``scores`` with columns rater, scale, session, score (NaN or no row = missing);
    ``sessions`` with session (number), date (label in the clinic's timezone) and status;
    ``flags`` with session, rater, scale, rule, label (the rule's name), repair_status
    ("repaired", "unrepaired", "pending" or "" for signals) and explanation.

    Output: client- and therapist-rated totals as lines over the held sessions, x their
    numbers (gaps where a held session has no score, never interpolated), bond/goal/task of
    each rater hidden until clicked in the legend, the baseline band (``baseline_band``),
    one marker per session, rater and repair status for drop flags on that rater's total,
    and the other signals on a strip above the scale.
    The y axis is fixed to ``scale_range`` (the instrument's).
    """
    text = text or ChartText()
    numbers = held_session_numbers(scores, sessions)
    dates = _date_of(sessions, numbers)
    customdata = [[d] for d in dates]
    traces = []

    band = baseline_band(scores)
    if band is not None and numbers:
        mean, sd, _ = band
        low = max(scale_range[0], mean - sd)
        high = min(scale_range[1], mean + sd)
        traces.append(
            {
                "type": "scatter",
                "x": [0.5, numbers[-1] + 0.5, numbers[-1] + 0.5, 0.5, 0.5],
                "y": [high, high, low, low, high],
                "fill": "toself",
                "fillcolor": "rgba(0, 114, 178, 0.12)",
                "line": {"width": 1, "color": "rgba(0, 114, 178, 0.45)", "dash": "dot"},
                "mode": "lines",
                "name": text.baseline,
                "hoverinfo": "skip",
                "legendrank": 900,
            }
        )

    table = series_table(scores, numbers)
    values = {key: table.get(key, [None] * len(numbers)) for key in SERIES_STYLE}
    for (rater, scale), (colour, dash, symbol) in SERIES_STYLE.items():
        is_total = scale == "total"
        if width and not is_total:
            continue  # paper cannot be clicked: the subscales stay on screen
        name = text.series(rater, scale)
        traces.append(
            {
                "type": "scatter",
                "x": numbers,
                "y": values[rater, scale],
                "customdata": customdata,
                "mode": "lines+markers",
                "name": name,
                "connectgaps": False,
                "visible": True if is_total else "legendonly",
                "line": {"color": colour, "dash": dash, "width": 3 if is_total else 2},
                "marker": {"symbol": symbol, "size": 8 if is_total else 7, "color": colour},
                "hovertemplate": (
                    f"{escape(text.session)} %{{x}} · %{{customdata[0]}}<br>"
                    f"{escape(name)}: %{{y:.2f}}<extra></extra>"
                ),
                "legendrank": 100 if is_total else 500,
                "legendgroup": f"{rater}-{scale}",
            }
        )

    flag_traces = _flag_traces(flags, values, numbers, dates, scale_range, text)
    traces += [t for t in flag_traces if not (width and t.get("visible") == "legendonly")]
    last = max(numbers[-1] if numbers else 1, 1)
    layout = _layout(
        height=height,
        width=width,
        legend_entries=sum(1 for t in traces if t.get("showlegend", True)),
        x=_axis(
            text.session,
            range=[0.5, last + 0.5],
            tickmode="linear" if len(numbers) <= 20 else "auto",
            tick0=1,
            dtick=1 if len(numbers) <= 20 else None,
            fixedrange=True,
        ),
        y=_score_axis(scale_range, text.score, strip=True),
    )
    if not numbers:
        layout["annotations"] = [
            {
                "text": escape(text.no_data),
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
            }
        ]
    return {"data": traces, "layout": layout}


@lru_cache
def _template(name: str) -> dict:
    return pio.templates[name].to_plotly_json()


def figure_dict_json(figure: dict) -> str:
    """The JSON of a figure made of plain dicts, as ``go.Figure(figure).to_json()`` writes
    it (a named template such as "none" spelled out) but without validating every property:
    for figures this module builds, whose properties its tests check through ``go.Figure``."""
    layout = figure.get("layout", {})
    if isinstance(layout.get("template"), str):
        layout = {**layout, "template": _template(layout["template"])}
    return pio.to_json({"data": figure.get("data", []), "layout": layout}, validate=False)


def _flag_traces(flags, values, numbers, dates, scale_range, text) -> list[dict]:
    """Drop flags on each rater's total as markers on that line, one per session, rater and
    repair status; drop flags on a subscale in that subscale's legend group (shown with its
    line); other signals on a strip above the scale."""
    if flags is None or not len(flags):
        return []
    traces = []
    date_of = dict(zip(numbers, dates, strict=True))
    # A client has tens of flags: plain Python groups them faster than pandas would.
    drops: dict[tuple, dict[int, list[dict]]] = {}
    signals: dict[int, list[dict]] = {}
    for row in sorted(frame_records(flags), key=lambda r: int(r["session"])):
        number = int(row["session"])
        if row["repair_status"] in REPAIR_ORDER:
            key = (row["rater"], row["scale"], row["repair_status"])
            drops.setdefault(key, {}).setdefault(number, []).append(row)
        else:
            signals.setdefault(number, []).append(row)
    in_legend: set[str] = set()
    for rater, scale in SERIES_STYLE:
        for status in REPAIR_ORDER:
            by_session = drops.get((rater, scale, status))
            if not by_session:
                continue
            xs = list(by_session)
            ys = [_marker_y(values, rater, scale, n, numbers, scale_range) for n in xs]
            hovers = [
                _flag_hover(n, date_of, text.repair[status], rows) for n, rows in by_session.items()
            ]
            trace = _flag_trace(status, rater, scale, xs, ys, hovers, text)
            if scale == "total":
                # One legend entry per status for both raters' totals.
                trace["showlegend"] = status not in in_legend
                in_legend.add(status)
            traces.append(trace)
    if signals:
        traces.append(
            {
                "type": "scatter",
                "x": list(signals),
                "y": [scale_range[1] + 0.4] * len(signals),
                "mode": "markers",
                "name": text.signal,
                "marker": {
                    "symbol": SIGNAL_STYLE["symbol"],
                    "size": SIGNAL_STYLE["size"],
                    "color": SIGNAL_STYLE["color"],
                    "line": {"width": 1, "color": OKABE_ITO["black"]},
                },
                "hovertext": [
                    _flag_hover(n, date_of, text.signal, rows) for n, rows in signals.items()
                ],
                "hovertemplate": "%{hovertext}<extra></extra>",
                "legendrank": 400,
            }
        )
    return traces


def _flag_trace(status, rater, scale, xs, ys, hovers, text) -> dict:
    style = FLAG_STYLE[status]
    trace = {
        "type": "scatter",
        "x": xs,
        "y": ys,
        "mode": "markers+text",
        "name": text.repair[status],
        "text": [text.repair[status]] * len(xs),
        # Client labels below the point, therapist labels above: they rarely collide.
        "textposition": "bottom center" if rater == "client" else "top center",
        "textfont": {"size": 11, "color": "#1b1f24"},
        "marker": {
            "symbol": style["symbol"],
            "size": style["size"],
            "color": style["color"],
            "line": {"width": 3 if status != "unrepaired" else 1, "color": style["color"]},
        },
        "hovertext": hovers,
        "hovertemplate": "%{hovertext}<extra></extra>",
    }
    if scale == "total":
        trace |= {"legendgroup": f"flags-{status}", "legendrank": 300 + REPAIR_ORDER.index(status)}
    else:
        trace |= {"legendgroup": f"{rater}-{scale}", "showlegend": False, "visible": "legendonly"}
    return trace


def _marker_y(values, rater, scale, number, numbers, scale_range) -> float:
    """The flagged series' score at its session, else its rater's total, else the floor."""
    index = numbers.index(number) if number in numbers else None
    for key in ((rater, scale), (rater, "total")):
        series = values.get(key)
        if index is not None and series and series[index] is not None:
            return series[index]
    return scale_range[0]


def _bold(text: str) -> str:
    """Bold in a plotly hover label (plotly.js draws a few tags: <b>, <br>), the text
    escaped."""
    return "<b>" + escape(text) + "</b>"


def _flag_hover(number: int, date_of: dict, heading: str, rows: list[dict]) -> str:
    lines = [f"{_bold(heading)} · {number} · {escape(date_of.get(number, ''))}"]
    for row in rows:
        lines.append(f"{_bold(str(row['label']))}: {_hover_lines(str(row['explanation']))}")
    return "<br>".join(lines)


def _date_line(rows: pd.DataFrame, date_column: str, name: str, style, hover_date: str) -> dict:
    """One line of mean totals over dates (weeks or months): NaN means are gaps."""
    colour, dash, symbol = style
    return {
        "type": "scatter",
        "x": [d.isoformat() for d in rows[date_column]],
        "y": _none_for_nan(rows["mean"].round(3)),
        "customdata": [[int(n)] for n in rows["n"]],
        "mode": "lines+markers",
        "name": name,
        "connectgaps": False,
        "line": {"color": colour, "dash": dash, "width": 3},
        "marker": {"symbol": symbol, "size": 8, "color": colour},
        "hovertemplate": (
            f"{escape(name)}<br>%{{x|{hover_date}}}: %{{y:.2f}} "
            "(n = %{customdata[0]})<extra></extra>"
        ),
    }


def therapists_weekly_figure_dict(
    weekly: pd.DataFrame,
    *,
    scale_range: tuple[float, float],
    text: ChartText | None = None,
    height: int = 360,
    width: int | None = None,
) -> dict:
    """Weekly mean client-rated total, one line per therapist.

    Input ``weekly``: columns therapist (name), week (date of the week's Monday), mean and n
    (ratings that week), every week of the period present for every therapist (NaN mean where
    there were none: a gap, not interpolated).
    """
    text = text or ChartText()
    traces = []
    for position, (name, rows) in enumerate(weekly.groupby("therapist", sort=False)):
        style = (
            LINE_COLOURS[position % len(LINE_COLOURS)],
            LINE_DASHES[position % len(LINE_DASHES)],
            LINE_SYMBOLS[position % len(LINE_SYMBOLS)],
        )
        label = f"{text.week} %d %b %Y"
        traces.append(_date_line(rows.sort_values("week"), "week", str(name), style, label))
    layout = _layout(
        height=height,
        width=width,
        x=_axis(text.week, type="date", tickformat="%d %b", fixedrange=True),
        y=_score_axis(scale_range, text.client_total_mean),
    )
    return {"data": traces, "layout": layout}


def histogram_bins(
    latest: pd.Series, *, scale_range: tuple[float, float], bin_width: float = 0.5
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(edges, counts, labels) of fixed-width bins over the scale; the last bin includes the
    scale maximum (numpy's rule)."""
    low, high = scale_range
    edges = np.arange(low, high + bin_width / 2, bin_width)
    if edges[-1] < high:
        edges = np.append(edges, high)
    counts, _ = np.histogram(latest.dropna().to_numpy(dtype=float), bins=edges)
    labels = [f"{a:g}\N{EN DASH}{b:g}" for a, b in itertools.pairwise(edges)]
    return edges, counts, labels


def histogram_figure(
    latest: pd.Series,
    *,
    scale_range: tuple[float, float],
    bin_width: float = 0.5,
    text: ChartText | None = None,
    height: int = 300,
) -> go.Figure:
    """Counts of clients by their latest client-rated total, in fixed bins over the scale."""
    text = text or ChartText()
    low, high = scale_range
    edges, counts, labels = histogram_bins(latest, scale_range=scale_range, bin_width=bin_width)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(
        go.Bar(
            x=centres.tolist(),
            y=counts.tolist(),
            width=bin_width * 0.92,
            customdata=[[label] for label in labels],
            marker={
                "color": OKABE_ITO["blue"],
                "line": {"color": OKABE_ITO["black"], "width": 1},
            },
            name=text.clients,
            hovertemplate="%{customdata[0]}: %{y}<extra></extra>",
        )
    )
    fig.update_layout(
        **_layout(
            height=height,
            width=None,
            x=_axis(text.latest_client_total, range=[low, high], tickvals=edges.tolist()),
            y=_axis(text.clients, rangemode="tozero", fixedrange=True, dtick=1)
            if counts.max(initial=0) <= 10
            else _axis(text.clients, rangemode="tozero", fixedrange=True),
        ),
        showlegend=False,
    )
    return fig


def flags_per_rule_figure(
    counts: pd.DataFrame, *, text: ChartText | None = None, height: int | None = None
) -> go.Figure:
    """Horizontal bars: active flags per rule. Input: columns label and n."""
    text = text or ChartText()
    counts = counts.sort_values("n")
    fig = go.Figure(
        go.Bar(
            x=counts["n"].tolist(),
            y=counts["label"].astype(str).tolist(),
            orientation="h",
            marker={"color": OKABE_ITO["vermillion"], "line": {"color": "#000", "width": 1}},
            text=counts["n"].tolist(),
            textposition="outside",
            hovertemplate="%{y}: %{x}<extra></extra>",
            cliponaxis=False,
        )
    )
    layout = _layout(
        height=height or 60 + 34 * max(len(counts), 1),
        width=None,
        x=_axis(text.flags, rangemode="tozero", fixedrange=True),
        y=_axis("", automargin=True, fixedrange=True, showgrid=False),
    )
    layout["margin"] = {"l": 16, "r": 40, "t": 8, "b": 48}
    fig.update_layout(**layout, showlegend=False)
    return fig


def monthly_trend_figure(
    monthly: pd.DataFrame,
    *,
    scale_range: tuple[float, float],
    text: ChartText | None = None,
    height: int = 320,
) -> go.Figure:
    """Monthly mean totals by rater. Input: columns month (date), rater, mean, n; every
    month present for both raters (NaN where none: a gap)."""
    text = text or ChartText()
    names = {"client": text.client_total_mean, "therapist": text.therapist_total_mean}
    traces = [
        _date_line(
            monthly[monthly["rater"] == rater].sort_values("month"),
            "month",
            names[rater],
            SERIES_STYLE[rater, "total"],
            "%b %Y",
        )
        for rater in ("client", "therapist")
    ]
    layout = _layout(
        height=height,
        width=None,
        x=_axis(text.month, type="date", tickformat="%b %Y", fixedrange=True),
        y=_score_axis(scale_range, text.mean),
    )
    return go.Figure(data=traces, layout=layout)


@dataclass(frozen=True)
class Sparkline:
    """A small chart of a client's recent totals, in SVG user units (``sparkline``)."""

    width: int
    height: int
    base_y: float  # the baseline under the points
    runs: list[list[tuple[float, float]]]  # each unbroken run of scores: a line, or a dot
    last: tuple[float, float] | None  # the last score, marked


def sparkline(
    points: Sequence[tuple[int, float | None]],
    *,
    scale_range: tuple[float, float],
    width: int = 96,
    height: int = 28,
) -> Sparkline | None:
    """The shape of a client's recent totals: (session number, score or None); None when
    there are no points. The page draws it as an inline SVG.

    x is the session number, so a missing form leaves a gap; the line is never drawn across
    it. y spans the instrument's scale range. The last score gets a dot.
    """
    pad = 3
    if not points:
        return None
    first, last = points[0][0], points[-1][0]
    low, high = scale_range
    span_x = max(last - first, 1)
    span_y = (high - low) or 1

    def xy(number: int, value: float) -> tuple[float, float]:
        x = pad + (number - first) / span_x * (width - 2 * pad)
        y = pad + (high - value) / span_y * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    segments, current = [], []
    previous = None
    for number, value in points:
        if value is None or (previous is not None and number != previous + 1):
            if current:
                segments.append(current)
            current = []
        if value is not None:
            current.append(xy(number, value))
        previous = number
    if current:
        segments.append(current)
    last_scored = next(((n, v) for n, v in reversed(points) if v is not None), None)
    return Sparkline(
        width=width,
        height=height,
        base_y=height - pad,
        runs=segments,
        last=xy(*last_scored) if last_scored is not None else None,
    )
