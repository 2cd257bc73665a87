"""One client's series as the charts read them: session numbers, values per rater and
scale, the table under the chart and the baseline band."""

from collections.abc import Iterable, Sequence
from html import escape
from textwrap import wrap

import numpy as np
import pandas as pd

from alliance.charts.style import BASELINE_SESSIONS, HOVER_WIDTH


def none_for_nan(values: Iterable) -> list:
    """Plotly draws a gap at None; NaN would be serialised as NaN (invalid JSON)."""
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values]


def hover_lines(text: str) -> str:
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
