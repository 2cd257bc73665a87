"""Plotly figures and sparklines for the dashboards, built from pandas frames.

Pure functions: no Django imports, no database (an import contract says so). The Django
layer (alliance/dashboards/) reads the numbers and passes translated labels in a
``ChartText``; pages serialise each figure once and the locally served plotly.js draws it.
The figures drawn on every client page and supervision dashboard are built as plain dicts
(``client_alliance_figure_dict``, ``therapists_weekly_figure_dict``) and serialised by
``figure_dict_json`` without plotly.py's per-property validation, which costs more than
building the numbers; the tests wrap them in ``go.Figure`` to validate every property, and
check they serialise to the same JSON.

Readable in greyscale and for colour-blind readers: the Okabe-Ito palette (Okabe & Ito
2008), and every series also differs by dash style and marker symbol; flag markers differ by
symbol, fill and a text label, never by colour alone.

One module per figure family: ``style`` (palette, words, axes, layout, JSON), ``series`` (a
client's series), ``client`` (the client chart), ``clinic`` (supervisor and clinic figures),
``sparklines``. This package re-exports what the dashboards and tests read.
"""

from alliance.charts.client import (
    client_alliance_figure_dict,
)
from alliance.charts.clinic import (
    flags_per_rule_figure,
    histogram_bins,
    histogram_figure,
    monthly_trend_figure,
    therapists_weekly_figure_dict,
)
from alliance.charts.series import (
    baseline_band,
    frame_records,
    series_table,
    session_numbers,
)
from alliance.charts.sparklines import Sparkline, sparkline
from alliance.charts.style import (
    OKABE_ITO,
    REPAIR_ORDER,
    ChartText,
    figure_dict_json,
)

__all__ = [
    "OKABE_ITO",
    "REPAIR_ORDER",
    "ChartText",
    "Sparkline",
    "baseline_band",
    "client_alliance_figure_dict",
    "figure_dict_json",
    "flags_per_rule_figure",
    "frame_records",
    "histogram_bins",
    "histogram_figure",
    "monthly_trend_figure",
    "series_table",
    "session_numbers",
    "sparkline",
    "therapists_weekly_figure_dict",
]
