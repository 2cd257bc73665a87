"""The charts' look, shared by every figure: the colour-blind-safe palette and series styles,
the translated words a page passes in (``ChartText``), axes and layout, and the JSON a page
embeds."""

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
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


def axis(title: str, **extra) -> dict:
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


def figure_layout(
    *, height: int, width: int | None, x: dict, y: dict, legend_entries: int = 0
) -> dict:
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


def score_axis(scale_range: tuple[float, float], title: str, *, strip: bool = False) -> dict:
    low, high = scale_range
    ticks = list(np.arange(low, high + 0.001, 1.0 if high - low <= 10 else 2.0))
    return axis(
        title,
        range=[low - 0.15, high + (0.6 if strip else 0.15)],
        tickvals=[float(t) for t in ticks],
        fixedrange=True,
    )


@lru_cache
def template(name: str) -> dict:
    return pio.templates[name].to_plotly_json()


def figure_dict_json(figure: dict) -> str:
    """The JSON of a figure made of plain dicts, as ``go.Figure(figure).to_json()`` writes
    it (a named template such as "none" spelled out) but without validating every property:
    for figures this module builds, whose properties its tests check through ``go.Figure``."""
    layout = figure.get("layout", {})
    if isinstance(layout.get("template"), str):
        layout = {**layout, "template": template(layout["template"])}
    return pio.to_json({"data": figure.get("data", []), "layout": layout}, validate=False)
