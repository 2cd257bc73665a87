"""The figures are asserted on the figure objects: no browser, no database."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from alliance import charts

SCALE = (1.0, 5.0)


def client_alliance_figure(*args, **kwargs) -> go.Figure:
    """The client chart's dict as a validated plotly Figure: every property is checked."""
    return go.Figure(charts.client_alliance_figure_dict(*args, **kwargs))


def therapists_weekly_figure(*args, **kwargs) -> go.Figure:
    """The supervision chart's dict as a validated plotly Figure."""
    return go.Figure(charts.therapists_weekly_figure_dict(*args, **kwargs))


def scores_frame(rows):
    """rows: (rater, scale, session, score) -> the chart's scores frame."""
    return pd.DataFrame(rows, columns=["rater", "scale", "session", "score"])


def sessions_frame(numbers, status="completed"):
    return pd.DataFrame(
        [(n, f"Mon {n} Mar 2026", status, f"2026-03-{n:02d}") for n in numbers],
        columns=["session", "date", "status", "day"],
    )


def flags_frame(rows):
    """rows: (session, rater, scale, rule, repair_status)."""
    return pd.DataFrame(
        [
            (n, rater, scale, rule, rule.replace("_", " "), repair, "open", f"{rule} at {n} < x")
            for n, rater, scale, rule, repair in rows
        ],
        columns=[
            "session",
            "rater",
            "scale",
            "rule",
            "label",
            "repair_status",
            "status",
            "explanation",
        ],
    )


@pytest.fixture
def course():
    """Eight sessions: the client skipped the form at 4 and 5 (and session 6 was cancelled:
    no row at all); the therapist rated every held session; a drop at 7."""
    client = {1: 4.5, 2: 4.0, 3: 4.5, 7: 2.5, 8: 4.5}
    therapist = {1: 4.0, 2: 4.0, 3: 4.0, 4: 4.0, 5: 3.5, 7: 3.5, 8: 4.0}
    rows = [("client", "total", n, v) for n, v in client.items()]
    rows += [("client", "total", n, np.nan) for n in (4, 5)]
    rows += [("therapist", "total", n, v) for n, v in therapist.items()]
    rows += [("client", "bond", n, v - 0.5) for n, v in client.items()]
    for scale in ("goal", "task"):
        rows += [("client", scale, n, v) for n, v in client.items()]
        rows += [("therapist", scale, n, v) for n, v in therapist.items()]
    rows += [("therapist", "bond", n, v) for n, v in therapist.items()]
    flags = flags_frame(
        [
            (7, "client", "total", "reliable_drop", "repaired"),
            (7, "client", "total", "below_baseline", "repaired"),
            (3, "client", "total", "reliable_drop", "unrepaired"),
            (8, "therapist", "total", "reliable_drop", "pending"),
            (7, "client", "tension", "client_reported_tension", ""),
            (5, "client", "total", "missing_forms", ""),
        ]
    )
    return scores_frame(rows), sessions_frame([1, 2, 3, 4, 5, 6, 7, 8]), flags


def traces_by_name(fig):
    return {trace.name: trace for trace in fig.data}


def test_totals_are_two_visible_lines_with_gaps_where_no_score(course):
    scores, sessions, flags = course
    fig = client_alliance_figure(scores, sessions, flags, scale_range=SCALE)
    traces = traces_by_name(fig)
    client = traces["Client-rated total"]
    therapist = traces["Therapist-rated total"]
    assert list(client.x) == [1, 2, 3, 4, 5, 6, 7, 8]
    # Missing forms (4, 5) and the cancelled session (6) are gaps, never interpolated.
    assert list(client.y) == [4.5, 4.0, 4.5, None, None, None, 2.5, 4.5]
    assert list(therapist.y) == [4.0, 4.0, 4.0, 4.0, 3.5, None, 3.5, 4.0]
    assert client.connectgaps is False and therapist.connectgaps is False
    assert client.visible is True and therapist.visible is True
    # The hover shows the date (in the clinic's timezone, as the Django layer wrote it).
    assert list(client.customdata[0]) == ["Mon 1 Mar 2026"]
    assert "%{customdata[0]}" in client.hovertemplate


def test_subscales_are_toggleable_and_every_series_differs_by_dash_and_symbol(course):
    fig = client_alliance_figure(*course, scale_range=SCALE)
    traces = traces_by_name(fig)
    for rater in ("Client-rated", "Therapist-rated"):
        for scale in ("bond", "goal", "task"):
            assert traces[f"{rater} {scale}"].visible == "legendonly"
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == 8
    styles = {(t.line.dash, t.marker.symbol) for t in lines}
    assert len(styles) == 8  # greyscale-safe: no two series look alike without colour
    assert {t.line.color for t in lines} <= set(charts.OKABE_ITO.values())


def test_the_y_axis_is_the_instruments_range(course):
    fig = client_alliance_figure(*course, scale_range=SCALE)
    low, high = fig.layout.yaxis.range
    assert low < 1 <= 5 < high  # a little room below 1 and a strip for signals above 5
    assert list(fig.layout.yaxis.tickvals) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert fig.layout.yaxis.fixedrange is True


def test_repaired_unrepaired_and_pending_differ_by_symbol_fill_and_label(course):
    fig = client_alliance_figure(*course, scale_range=SCALE)
    traces = traces_by_name(fig)
    unrepaired, repaired, pending = traces["Unrepaired"], traces["Repaired"], traces["Pending"]
    symbols = {unrepaired.marker.symbol, repaired.marker.symbol, pending.marker.symbol}
    assert len(symbols) == 3
    assert "open" not in unrepaired.marker.symbol  # filled
    assert repaired.marker.symbol.endswith("-open")  # a ring: no fill
    assert "open" in pending.marker.symbol
    assert set(unrepaired.text) == {"Unrepaired"} and set(repaired.text) == {"Repaired"}
    assert "text" in unrepaired.mode and "text" in repaired.mode
    # One marker per session and rater, on that rater's total.
    assert (list(unrepaired.x), list(unrepaired.y)) == ([3], [4.5])
    assert (list(repaired.x), list(repaired.y)) == ([7], [2.5])
    assert (list(pending.x), list(pending.y)) == ([8], [4.0])
    # The hover names every flag at the point with its explanation, escaped.
    [hover] = repaired.hovertext
    assert "reliable drop" in hover and "below baseline" in hover
    assert "&lt; x" in hover and "< x" not in hover


def test_signals_sit_on_a_strip_above_the_scale(course):
    fig = client_alliance_figure(*course, scale_range=SCALE)
    signal = traces_by_name(fig)["Other signal"]
    assert list(signal.x) == [5, 7]
    assert all(y > SCALE[1] for y in signal.y)
    assert signal.marker.symbol == "star"


def test_the_baseline_band_is_mean_and_sd_of_the_first_three_client_totals(course):
    scores, _sessions, _flags = course
    mean, sd, sessions = charts.baseline_band(scores)
    assert sessions == [1, 2, 3]
    assert mean == pytest.approx(13 / 3)
    assert sd == pytest.approx(np.std([4.5, 4.0, 4.5], ddof=1))
    fig = client_alliance_figure(*course, scale_range=SCALE)
    band = next(t for t in fig.data if t.fill == "toself")
    assert band.name.startswith("Baseline")
    assert max(band.y) == pytest.approx(mean + sd)
    assert min(band.y) == pytest.approx(mean - sd)
    assert band.hoverinfo == "skip"


def test_the_band_skips_missing_forms_and_needs_three_totals():
    scores = scores_frame(
        [("client", "total", 1, 4.0), ("client", "total", 2, np.nan), ("client", "total", 3, 3.0)]
    )
    assert charts.baseline_band(scores) is None
    scores = pd.concat([scores, scores_frame([("client", "total", 5, 5.0)])])
    assert charts.baseline_band(scores)[2] == [1, 3, 5]


def test_a_band_is_clipped_to_the_scale():
    scores = scores_frame([("client", "total", n, v) for n, v in [(1, 5.0), (2, 5.0), (3, 3.0)]])
    fig = client_alliance_figure(scores, sessions_frame([1, 2, 3]), None, scale_range=SCALE)
    band = next(t for t in fig.data if t.fill == "toself")
    assert max(band.y) == 5.0


def test_no_ratings_yet_is_an_empty_chart_that_says_so():
    fig = client_alliance_figure(
        scores_frame([]), sessions_frame([]), flags_frame([]), scale_range=SCALE
    )
    assert fig.layout.annotations[0].text == "No ratings yet"
    json.loads(fig.to_json())


def test_the_figure_serialises_to_valid_json_without_nan(course):
    text = client_alliance_figure(*course, scale_range=SCALE).to_json()
    assert "NaN" not in text
    figure = json.loads(text)
    # No default template: the page carries its data, not plotly's 10 kB of theme.
    assert len(json.dumps(figure["layout"]["template"])) < 100


def test_words_come_from_chart_text(course):
    text = charts.ChartText(
        raters={"client": "Cliente", "therapist": "Terapeuta"},
        scales={"total": "total", "bond": "vínculo", "goal": "metas", "task": "tareas"},
        repair={"unrepaired": "Sin reparar", "repaired": "Reparada", "pending": "Pendiente"},
    )
    fig = client_alliance_figure(*course, scale_range=SCALE, text=text)
    names = {trace.name for trace in fig.data}
    assert {"Cliente total", "Terapeuta vínculo", "Sin reparar", "Reparada"} <= names


def test_sizes_for_paper(course):
    fig = client_alliance_figure(*course, scale_range=SCALE, width=680, height=300)
    assert (fig.layout.width, fig.layout.height) == (680, 300)
    assert fig.layout.legend.orientation == "h"  # below the plot: the plot keeps the width
    screen = client_alliance_figure(*course, scale_range=SCALE)
    assert screen.layout.autosize is True and screen.layout.legend.orientation == "v"


# --- other figures ---------------------------------------------------------------------------


def test_weekly_figure_has_one_line_per_therapist_with_gaps():
    weeks = [dt.date(2026, 3, 2) + dt.timedelta(weeks=i) for i in range(3)]
    weekly = pd.DataFrame(
        [
            ("Dana Reyes", 1, weeks[0], 4.0, 2),
            ("Dana Reyes", 1, weeks[1], np.nan, 0),
            ("Dana Reyes", 1, weeks[2], 3.5, 1),
            ("Sam Okafor", 2, weeks[0], 4.5, 3),
            ("Sam Okafor", 2, weeks[1], 4.25, 2),
            ("Sam Okafor", 2, weeks[2], np.nan, 0),
        ],
        columns=["therapist", "therapist_id", "week", "mean", "n"],
    )
    fig = therapists_weekly_figure(weekly, scale_range=SCALE)
    # The supervision page serialises the plain dicts; the JSON is the validated figure's.
    plain = charts.therapists_weekly_figure_dict(weekly, scale_range=SCALE)
    assert json.loads(charts.figure_dict_json(plain)) == json.loads(fig.to_json())
    dana, sam = fig.data
    assert (dana.name, sam.name) == ("Dana Reyes", "Sam Okafor")
    assert list(dana.y) == [4.0, None, 3.5] and dana.connectgaps is False
    assert list(dana.x) == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert (dana.line.dash, dana.marker.symbol) != (sam.line.dash, sam.marker.symbol)
    assert list(fig.layout.yaxis.tickvals) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_histogram_bins_cover_the_scale_and_count_the_maximum():
    latest = pd.Series([1.0, 2.2, 4.9, 5.0, 5.0, np.nan])
    edges, counts, labels = charts.histogram_bins(latest, scale_range=SCALE)
    assert edges[0] == 1.0 and edges[-1] == 5.0
    assert counts.sum() == 5
    assert counts[-1] == 3  # 4.5-5 includes 5.0
    assert labels[0] == "1\N{EN DASH}1.5"
    fig = charts.histogram_figure(latest, scale_range=SCALE)
    assert list(fig.data[0].y) == counts.tolist()


def test_monthly_trend_has_client_and_therapist_lines():
    months = [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    monthly = pd.DataFrame(
        [
            (months[0], "client", 4.0, 3),
            (months[1], "client", np.nan, 0),
            (months[0], "therapist", 3.5, 3),
            (months[1], "therapist", 3.75, 2),
        ],
        columns=["month", "rater", "mean", "n"],
    )
    fig = charts.monthly_trend_figure(monthly, scale_range=SCALE)
    client, therapist = fig.data
    assert list(client.y) == [4.0, None]
    assert client.line.dash != therapist.line.dash


def test_flags_per_rule_bars():
    counts = pd.DataFrame({"label": ["Reliable drop", "Ceiling"], "n": [5, 1]})
    fig = charts.flags_per_rule_figure(counts)
    assert list(fig.data[0].y) == ["Ceiling", "Reliable drop"]
    assert list(fig.data[0].x) == [1, 5]


# --- sparklines ------------------------------------------------------------------------------


def test_sparkline_breaks_at_a_missing_form_and_a_skipped_session_number():
    points = [(1, 4.0), (2, 4.5), (3, None), (4, 3.0), (5, 3.5), (7, 4.0), (8, 4.5)]
    shape = charts.sparkline(points, scale_range=SCALE)
    assert [len(run) for run in shape.runs] == [2, 2, 2]  # 1-2, 4-5, 7-8
    assert shape.last == shape.runs[-1][-1]


def test_sparkline_y_uses_the_scale_range():
    shape = charts.sparkline([(1, 5.0), (2, 1.0)], scale_range=SCALE, height=28)
    [[(_x1, y1), (_x2, y2)]] = shape.runs
    assert y1 == 3.0 and y2 == 25.0  # top and bottom inside the padding
    assert shape.base_y == 25


def test_a_lone_score_is_a_dot_and_no_scores_no_line():
    shape = charts.sparkline([(1, None), (2, 4.0), (3, None)], scale_range=SCALE)
    assert [len(run) for run in shape.runs] == [1]
    assert charts.sparkline([], scale_range=SCALE) is None


def test_subscale_flags_appear_with_their_subscale_only(course):
    scores, sessions, _flags = course
    flags = flags_frame(
        [
            (7, "client", "goal", "reliable_drop", "unrepaired"),
            (7, "client", "task", "reliable_drop", "unrepaired"),
        ]
    )
    fig = client_alliance_figure(scores, sessions, flags, scale_range=SCALE)
    markers = [t for t in fig.data if t.mode == "markers+text"]
    assert {t.legendgroup for t in markers} == {"client-goal", "client-task"}
    goal = next(t for t in markers if t.legendgroup == "client-goal")
    assert goal.visible == "legendonly" and goal.showlegend is False
    assert (list(goal.x), list(goal.y)) == ([7], [2.5])
    line = next(t for t in fig.data if t.name == "Client-rated goal")
    assert line.legendgroup == "client-goal"  # clicking the line's legend entry shows both


def test_one_legend_entry_per_repair_status(course):
    scores, sessions, _flags = course
    flags = flags_frame(
        [
            (7, "client", "total", "reliable_drop", "unrepaired"),
            (7, "therapist", "total", "reliable_drop", "unrepaired"),
        ]
    )
    fig = client_alliance_figure(scores, sessions, flags, scale_range=SCALE)
    client, therapist = (t for t in fig.data if t.name == "Unrepaired")
    assert (client.showlegend, therapist.showlegend) == (True, False)
    assert client.legendgroup == therapist.legendgroup
    assert (client.textposition, therapist.textposition) == ("bottom center", "top center")


@pytest.mark.parametrize("width", [None, 680])
def test_the_plain_dict_figure_serialises_as_the_validated_figure(course, width):
    # The client page skips plotly.py's validation; the JSON must not change for it.
    figure = charts.client_alliance_figure_dict(*course, scale_range=SCALE, width=width)
    fast = json.loads(charts.figure_dict_json(figure))
    validated = json.loads(
        client_alliance_figure(*course, scale_range=SCALE, width=width).to_json()
    )
    assert fast == validated
    empty = (scores_frame([]), sessions_frame([]), flags_frame([]))
    assert json.loads(
        charts.figure_dict_json(charts.client_alliance_figure_dict(*empty, scale_range=SCALE))
    ) == json.loads(client_alliance_figure(*empty, scale_range=SCALE).to_json())


def test_frame_records_are_to_dicts_records():
    """frame_records reads a column at a time what to_dict("records") gives: native values,
    NaN kept, categories as their values; no rows, no records."""
    frame = pd.DataFrame(
        {
            "session": np.array([3, 1], dtype="int64"),
            "rater": pd.Categorical(["client", "therapist"]),
            "score": [np.nan, 2.5],
            "label": ["Reliable drop", ""],
        }
    )
    records = charts.frame_records(frame)
    expected = frame.to_dict("records")
    assert [list(r) for r in records] == [list(r) for r in expected]
    assert [r["session"] for r in records] == [3, 1] and type(records[0]["session"]) is int
    assert [r["rater"] for r in records] == ["client", "therapist"]
    assert np.isnan(records[0]["score"]) and records[1]["score"] == 2.5
    assert records[1]["label"] == "" and records[0]["label"] == "Reliable drop"
    assert charts.frame_records(frame.iloc[0:0]) == []
