"""Scores frame -> flat arrays on a full grid of session positions, and flags -> output frame.

A position is a held session's place in the client's course (1 = the first session that took
place). Every (client, rater, scale) series is laid out on the client's full grid of positions
(first to last known position of that client), one cell per position, in one flat array per
column. Series are contiguous and sorted (client, rater, scale), so "k sessions earlier in the
same series" is the cell k places back, provided its place in the series is >= k: shifts and
windows count positions and never skip over a missing session.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alliance.analytics.config import RATERS, RULE_NAMES, TENSION_SCALE

# The overall alliance score; a present client total means the client filled in the form.
TOTAL_SCALE = "total"

INPUT_COLUMNS = ("client", "rater", "scale", "session", "score")
# Optional input column: the session number a clinician sees, used only in explanations.
NUMBER_COLUMN = "number"

# Output columns in order, with the dtypes of an empty result.
_FLAG_DTYPES = {
    "client": object,
    "rater": object,
    "scale": object,
    "session": np.int64,
    "rule": object,
    "magnitude": np.float64,
    "explanation": object,
    "repair_status": object,
    "repaired_session": "Int64",
}
FLAG_COLUMNS = tuple(_FLAG_DTYPES)

# Rule names in output order (alphabetical), so sorting can use small integer ranks.
_RULE_ORDER = tuple(sorted(RULE_NAMES))


@dataclass(frozen=True)
class Grid:
    """Validated scores on the full grid of positions (column ``session`` of the input).

    Per client code (0..n_clients-1, in output order): ``client_values`` (the caller's ids,
    whose column dtype ``client_dtype`` the output keeps),
    ``first_session`` and ``last_session`` (first and last known position; a position is
    known when any row names it, even with a missing score), and ``label_start`` (where the
    client's positions start in ``labels``).
    Per position of each client's range, clients one after another: ``labels``, the session
    number explanations show (the ``number`` column; the position itself without one).
    Per series (sorted client, rater, scale): ``series_client``, ``series_rater`` (0 client,
    1 therapist), ``series_scale`` (code into the sorted ``scale_names``), ``start`` (first cell)
    and ``length`` (number of positions).
    Per cell: ``series``, ``pos`` (0-based position in its series), ``session`` and ``score``
    (NaN = missing).
    Per known (client, session) pair, sorted: ``known_client`` and ``known_session``.
    """

    client_values: np.ndarray
    client_dtype: Any
    first_session: np.ndarray
    last_session: np.ndarray
    label_start: np.ndarray
    labels: np.ndarray
    scale_names: np.ndarray
    series_client: np.ndarray
    series_rater: np.ndarray
    series_scale: np.ndarray
    start: np.ndarray
    length: np.ndarray
    series: np.ndarray
    pos: np.ndarray
    session: np.ndarray
    score: np.ndarray
    known_client: np.ndarray
    known_session: np.ndarray

    def scale_code(self, name: str) -> int:
        """Code of scale ``name``, or -1 when no row uses it."""
        found = np.flatnonzero(self.scale_names == name)
        return int(found[0]) if found.size else -1

    def number(self, client: np.ndarray, position: np.ndarray) -> np.ndarray:
        """The session number shown for ``position`` of each client code, for explanations.

        Positions before the client's first known one are shown as that first one.
        """
        offset = np.maximum(np.asarray(position) - self.first_session[client], 0)
        return self.labels[self.label_start[client] + offset]

    def cell_number(self, cells: np.ndarray, offset: int = 0) -> np.ndarray:
        """The session number shown for the position ``offset`` after each of ``cells``."""
        return self.number(self.cell_client(cells), self.session[cells] + offset)

    def previous_score(self) -> np.ndarray:
        """Per cell, the score at the previous position of the same series (NaN at the
        first session of each series)."""
        out = np.full(self.score.shape, np.nan)
        out[1:] = self.score[:-1]
        out[self.pos == 0] = np.nan
        return out

    def at(self, cells: np.ndarray, offset: int) -> np.ndarray:
        """Score ``offset`` positions after (negative: before) each of ``cells``.

        NaN where that position falls outside the series.
        """
        target = self.pos[cells] + offset
        inside = (target >= 0) & (target < self.length[self.series[cells]])
        values = np.full(cells.shape, np.nan)
        values[inside] = self.score[cells[inside] + offset]
        return values

    def run_starts(self, hit: np.ndarray) -> np.ndarray:
        """Cells where ``hit`` is true and the previous position of the series is not."""
        previous = np.zeros_like(hit)
        previous[1:] = hit[:-1]
        previous[self.pos == 0] = False
        return np.flatnonzero(hit & ~previous)

    def cell_client(self, cells: np.ndarray) -> np.ndarray:
        """Client code of each cell."""
        return self.series_client[self.series[cells]]

    def series_cells(self, ids: np.ndarray) -> np.ndarray:
        """All cells of the series ``ids``, series after series."""
        lengths = self.length[ids]
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.repeat(self.start[ids], lengths) + offsets

    def find_series(self, client: np.ndarray, rater: int, scale: int) -> np.ndarray:
        """Series id of (client, rater, scale) for each client code; -1 where there is none."""
        n_scales = self.scale_names.size
        keys = (self.series_client * len(RATERS) + self.series_rater) * n_scales
        keys += self.series_scale
        wanted = (np.asarray(client) * len(RATERS) + rater) * n_scales + scale
        found = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
        return np.where(keys[found] == wanted, found, -1)


def _client_codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Client code per row (0.. in output order) and the client id per code.

    Output order is the ids' own sort order, or order of first appearance when they do not
    compare (e.g. a mix of numbers and strings).
    """
    codes, uniques = pd.factorize(column, sort=False)
    if (codes < 0).any():
        raise ValueError("client ids must not be missing")
    try:
        order = np.asarray(uniques.argsort(), dtype=np.int64)
    except TypeError:
        order = np.arange(len(uniques), dtype=np.int64)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[codes], np.asarray(uniques.to_numpy())[order]


def _rater_codes(column: pd.Series) -> np.ndarray:
    """0 for "client", 1 for "therapist", per row."""
    codes, uniques = pd.factorize(column, sort=False)
    unknown = [value for value in uniques if value not in RATERS]
    if unknown or (codes < 0).any():
        raise ValueError(f"rater must be 'client' or 'therapist', got {unknown or [None]!r}")
    return np.array([RATERS.index(value) for value in uniques], dtype=np.int8)[codes]


def _scale_codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Scale code per row and the scale names per code, in alphabetical order.

    "total" always gets a code: missing_forms flags it even when no client form exists.
    """
    codes, uniques = pd.factorize(column, sort=False)
    if (codes < 0).any() or not all(isinstance(value, str) for value in uniques):
        raise ValueError("scale must be a non-missing string such as 'total'")
    names = [*uniques, *(() if TOTAL_SCALE in uniques else (TOTAL_SCALE,))]
    order = np.argsort(np.asarray(names, dtype=object), kind="stable")
    rank = np.empty(order.size, dtype=np.int32)
    rank[order] = np.arange(order.size)
    return rank[codes], np.asarray(names, dtype=object)[order]


def _sessions(column: pd.Series, name: str = "session") -> np.ndarray:
    """Session positions (or numbers) as int64; whole numbers >= 1 without missing values."""
    if column.dtype.kind in "iu":
        # Plain numpy integers (the usual case) need no float round trip.
        values = column.to_numpy(dtype=np.int64)
    else:
        try:
            numbers = pd.to_numeric(column).to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be whole numbers: {error}") from error
        if not np.isfinite(numbers).all() or (numbers != np.round(numbers)).any():
            raise ValueError(f"{name} must be whole numbers without missing values")
        values = numbers.astype(np.int64)
    if (values < 1).any():
        raise ValueError(f"{name} must be 1 or more (they start at 1)")
    return values


def _scores(column: pd.Series) -> np.ndarray:
    """Scores as float64, NaN for missing; infinities are refused."""
    try:
        values = pd.to_numeric(column).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise ValueError(f"score must be numeric: {error}") from error
    if np.isinf(values).any():
        raise ValueError("score must be finite (NaN marks a missing score)")
    return values


def _known_sessions(
    client: np.ndarray,
    session: np.ndarray,
    first_session: np.ndarray,
    last_session: np.ndarray,
    number: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted (client, position) pairs named by at least one row; and, per position of each
    client's range, where each client's range starts and the session number it shows.

    A position no row names shows the number of the last known position before it plus the
    distance to it. Raises ValueError when a position's rows disagree on its number or a
    client's numbers do not increase with the positions.
    """
    span = last_session - first_session + 1
    offset = np.zeros(span.size, dtype=np.int64)
    np.cumsum(span[:-1], out=offset[1:])
    # One slot per client and position of the client's range: cheaper than hashing rows.
    slot = offset[client] + (session - first_session[client])
    named = np.zeros(int(span.sum()), dtype=bool)
    named[slot] = True
    slots = np.flatnonzero(named)
    known_client = np.repeat(np.arange(span.size), span)[slots]
    known_session = first_session[known_client] + slots - offset[known_client]
    if number is None:
        labels = np.repeat(first_session, span) + np.arange(named.size) - np.repeat(offset, span)
        return known_client, known_session, offset, labels
    labels = np.zeros(named.size, dtype=np.int64)
    labels[slot] = number
    if (labels[slot] != number).any():
        raise ValueError("rows of the same client and session position differ in number")
    known_number = labels[slots]
    same_client = known_client[1:] == known_client[:-1]
    if (same_client & (known_number[1:] <= known_number[:-1])).any():
        raise ValueError("session numbers must increase with the session positions")
    # Positions no row names continue from the last known one (each client's first is known).
    last_known = np.maximum.accumulate(np.where(named, np.arange(named.size), 0))
    gap = ~named
    labels[gap] = labels[last_known[gap]] + np.flatnonzero(gap) - last_known[gap]
    return known_client, known_session, offset, labels


def build_grid(scores: pd.DataFrame) -> Grid:
    """Validate a non-empty scores frame and lay it out on the session grid.

    Input: a frame with the columns client, rater, scale, session, score (see ``detect``).
    Output: a ``Grid``. Raises ``ValueError`` for missing columns, unknown raters, non-string
    scales, positions (or numbers) that are not whole numbers >= 1, a client's numbers that
    do not increase with its positions, non-numeric or infinite scores,
    missing client ids, and two present scores for the same client, rater, scale and session.
    """
    missing = [column for column in INPUT_COLUMNS if column not in scores.columns]
    if missing:
        raise ValueError(f"scores frame lacks column(s) {', '.join(missing)}")
    client, client_values = _client_codes(scores["client"])
    scale, scale_names = _scale_codes(scores["scale"])
    session = _sessions(scores["session"])
    score = _scores(scores["score"])

    n_clients = client_values.size
    first_session = np.full(n_clients, np.iinfo(np.int64).max)
    last_session = np.zeros(n_clients, dtype=np.int64)
    np.minimum.at(first_session, client, session)
    np.maximum.at(last_session, client, session)
    number = None
    if NUMBER_COLUMN in scores.columns:
        number = _sessions(scores[NUMBER_COLUMN], NUMBER_COLUMN)
    known_client, known_session, label_start, labels = _known_sessions(
        client, session, first_session, last_session, number
    )
    del number

    # Series key (client, rater, scale) built in place: one row-sized int64 array at a time.
    n_scales = scale_names.size
    key = client * len(RATERS)
    key += _rater_codes(scores["rater"])
    key *= n_scales
    key += scale
    del scale
    # pandas' hash-based factorize is several times faster than np.unique on millions of rows.
    row_series, keys = pd.factorize(key, sort=True)
    del key
    series_client = keys // (len(RATERS) * n_scales)
    series_rater = (keys // n_scales) % len(RATERS)
    series_scale = keys % n_scales
    length = last_session[series_client] - first_session[series_client] + 1
    start = np.zeros(keys.size, dtype=np.int64)
    np.cumsum(length[:-1], out=start[1:])

    cell = start[row_series]
    del row_series
    cell += session
    cell -= first_session[client]
    del client, session
    present = ~np.isnan(score)
    cell = cell[present]
    n_cells = int(length.sum())
    cell_score = np.full(n_cells, np.nan)
    cell_score[cell] = score[present]
    taken = np.zeros(n_cells, dtype=bool)
    taken[cell] = True
    if np.count_nonzero(taken) < cell.size:
        raise ValueError("two scores for the same client, rater, scale and session")
    del cell, taken, present, score

    series = np.repeat(np.arange(keys.size, dtype=np.int64), length)
    # Positions fit in int32; halving them keeps the grid small.
    pos = np.arange(n_cells, dtype=np.int64)
    pos -= start[series]
    pos = pos.astype(np.int32)
    cell_session = (first_session[series_client].astype(np.int32))[series] + pos

    return Grid(
        client_values=client_values,
        client_dtype=scores["client"].dtype,
        first_session=first_session,
        last_session=last_session,
        label_start=label_start,
        labels=labels,
        scale_names=scale_names,
        series_client=series_client,
        series_rater=series_rater,
        series_scale=series_scale,
        start=start,
        length=length,
        series=series,
        pos=pos,
        session=cell_session,
        score=cell_score,
        known_client=known_client,
        known_session=known_session,
    )


def scale_table(grid: Grid, lookup: dict[str, dict[str, float]]) -> np.ndarray:
    """(rater, scale code) table of the numbers in ``lookup[rater][scale]``; NaN when absent.

    The tension item is never a rating scale, so its entries stay NaN.
    """
    table = np.full((len(RATERS), grid.scale_names.size), np.nan)
    for rater_code, rater in enumerate(RATERS):
        for scale, value in lookup.get(rater, {}).items():
            code = grid.scale_code(scale)
            if code >= 0 and scale != TENSION_SCALE:
                table[rater_code, code] = value
    return table


# One rule's flags as columns of internal codes (FLAG_COLUMNS order), equal lengths. Plain
# arrays, not a DataFrame: a small series has eight rules' parts and pandas' per-frame cost
# was a third of detect's time for one client.
FlagsPart = dict[str, np.ndarray]


def flags_part(
    rule: str,
    *,
    client: np.ndarray,
    rater: np.ndarray,
    scale: np.ndarray,
    session: np.ndarray,
    magnitude: np.ndarray,
    explanation: np.ndarray,
    repair_status: np.ndarray | None = None,
    repaired_session: np.ndarray | None = None,
) -> FlagsPart:
    """One rule's flags with internal codes (client code, rater code, scale code).

    ``repaired_session`` uses -1 for "none"; both repair columns default to "does not apply".
    """
    n = len(client)
    if repair_status is None:
        repair_status = np.full(n, None, dtype=object)
    if repaired_session is None:
        repaired_session = np.full(n, -1, dtype=np.int64)
    return {
        "client": np.asarray(client, dtype=np.int64),
        "rater": np.asarray(rater, dtype=np.int64),
        "scale": np.asarray(scale, dtype=np.int64),
        "session": np.asarray(session, dtype=np.int64),
        "rule": np.full(n, _RULE_ORDER.index(rule), dtype=np.int64),
        "magnitude": np.asarray(magnitude, dtype=float),
        "explanation": np.asarray(explanation, dtype=object),
        "repair_status": np.asarray(repair_status, dtype=object),
        "repaired_session": np.asarray(repaired_session, dtype=np.int64),
    }


def empty_flags() -> pd.DataFrame:
    """The output frame with no rows, with the documented dtypes."""
    return pd.DataFrame(
        {column: pd.Series([], dtype=dtype) for column, dtype in _FLAG_DTYPES.items()}
    )


def assemble(parts: list[FlagsPart], grid: Grid) -> pd.DataFrame:
    """Concatenate the rules' flags, sort them and translate codes back to names and ids.

    Sort key: client (sorted ids, or first appearance when ids do not compare), rater
    (client before therapist), scale (alphabetical), session, rule (alphabetical).
    """
    parts = [part for part in parts if len(part["client"])]
    if not parts:
        return empty_flags()
    codes = {column: np.concatenate([part[column] for part in parts]) for column in parts[0]}
    order = np.lexsort(
        (codes["rule"], codes["session"], codes["scale"], codes["rater"], codes["client"])
    )
    codes = {column: values[order] for column, values in codes.items()}
    repaired = codes["repaired_session"]

    def text_column(values: np.ndarray) -> pd.Series:
        # Explicit object dtype: pandas 3 would turn the text into str and None into NaN.
        return pd.Series(values, dtype=object)

    return pd.DataFrame(
        {
            "client": pd.Series(grid.client_values[codes["client"]], dtype=grid.client_dtype),
            "rater": text_column(np.asarray(RATERS, dtype=object)[codes["rater"]]),
            "scale": text_column(grid.scale_names[codes["scale"]]),
            "session": codes["session"],
            "rule": text_column(np.asarray(_RULE_ORDER, dtype=object)[codes["rule"]]),
            "magnitude": codes["magnitude"],
            "explanation": text_column(codes["explanation"]),
            "repair_status": text_column(codes["repair_status"]),
            "repaired_session": pd.arrays.IntegerArray(np.maximum(repaired, 0), repaired < 0),
        }
    )
