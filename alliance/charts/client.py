"""The client chart: both raters' totals and subscales by held session, with flag markers
and the baseline band."""

from collections.abc import Sequence
from html import escape

import pandas as pd

from alliance.charts.series import (
    baseline_band,
    frame_records,
    held_session_numbers,
    hover_lines,
    none_for_nan,
    series_table,
)
from alliance.charts.style import (
    FLAG_STYLE,
    OKABE_ITO,
    REPAIR_ORDER,
    SERIES_STYLE,
    SIGNAL_STYLE,
    ChartText,
    axis,
    figure_layout,
    score_axis,
)


def date_of(sessions: pd.DataFrame, numbers: Sequence[int]) -> list[str]:
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
    dates = date_of(sessions, numbers)
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
    layout = figure_layout(
        height=height,
        width=width,
        legend_entries=sum(1 for t in traces if t.get("showlegend", True)),
        x=axis(
            text.session,
            range=[0.5, last + 0.5],
            tickmode="linear" if len(numbers) <= 20 else "auto",
            tick0=1,
            dtick=1 if len(numbers) <= 20 else None,
            fixedrange=True,
        ),
        y=score_axis(scale_range, text.score, strip=True),
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
        lines.append(f"{_bold(str(row['label']))}: {hover_lines(str(row['explanation']))}")
    return "<br>".join(lines)


def date_line(rows: pd.DataFrame, date_column: str, name: str, style, hover_date: str) -> dict:
    """One line of mean totals over dates (weeks or months): NaN means are gaps."""
    colour, dash, symbol = style
    return {
        "type": "scatter",
        "x": [d.isoformat() for d in rows[date_column]],
        "y": none_for_nan(rows["mean"].round(3)),
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
