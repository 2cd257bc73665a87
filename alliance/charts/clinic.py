"""The supervisor's and the clinic admin's figures: weekly totals by therapist, the
histogram of latest totals, flags per rule and the monthly trend."""

import itertools

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from alliance.charts.client import date_line
from alliance.charts.style import (
    LINE_COLOURS,
    LINE_DASHES,
    LINE_SYMBOLS,
    OKABE_ITO,
    SERIES_STYLE,
    ChartText,
    axis,
    figure_layout,
    score_axis,
)


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
        traces.append(date_line(rows.sort_values("week"), "week", str(name), style, label))
    layout = figure_layout(
        height=height,
        width=width,
        x=axis(text.week, type="date", tickformat="%d %b", fixedrange=True),
        y=score_axis(scale_range, text.client_total_mean),
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
        **figure_layout(
            height=height,
            width=None,
            x=axis(text.latest_client_total, range=[low, high], tickvals=edges.tolist()),
            y=axis(text.clients, rangemode="tozero", fixedrange=True, dtick=1)
            if counts.max(initial=0) <= 10
            else axis(text.clients, rangemode="tozero", fixedrange=True),
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
    layout = figure_layout(
        height=height or 60 + 34 * max(len(counts), 1),
        width=None,
        x=axis(text.flags, rangemode="tozero", fixedrange=True),
        y=axis("", automargin=True, fixedrange=True, showgrid=False),
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
        date_line(
            monthly[monthly["rater"] == rater].sort_values("month"),
            "month",
            names[rater],
            SERIES_STYLE[rater, "total"],
            "%b %Y",
        )
        for rater in ("client", "therapist")
    ]
    layout = figure_layout(
        height=height,
        width=None,
        x=axis(text.month, type="date", tickformat="%b %Y", fixedrange=True),
        y=score_axis(scale_range, text.mean),
    )
    return go.Figure(data=traces, layout=layout)
