"""Positions and session numbers in the pure engine: windows count positions (held sessions),
explanations name the session numbers given in the optional ``number`` column."""

import pandas as pd
import pytest

from alliance.analytics import detect
from tests.analytics.builders import COLUMNS, NAN, norms, only

SCALE_RANGE = {"client": {"min": 1.0, "max": 5.0}}


def held(scores, numbers, *, rater="client", client="A"):
    """Rows at positions 1.. with these session numbers (a cancelled session leaves a gap in
    the numbers, not in the positions)."""
    return [
        (client, rater, "total", position, score, number)
        for position, (score, number) in enumerate(zip(scores, numbers, strict=True), start=1)
    ]


def framed(*row_lists):
    return pd.DataFrame([row for rows in row_lists for row in rows], columns=[*COLUMNS, "number"])


def test_a_drop_is_between_adjacent_positions_and_named_by_numbers():
    # Session 4 was cancelled: positions 3 and 4 are sessions 3 and 5.
    scores = framed(held([4.5, 4.5, 4.5, 3.0], [1, 2, 3, 5]))
    (flag,) = detect(scores, only("reliable_drop", norms=norms())).itertuples()
    assert flag.session == 4
    assert flag.explanation.startswith(
        "Client-rated total fell from 4.5 at session 3 to 3.0 at session 5 "
    )


def test_the_repair_window_counts_positions_not_numbers():
    # Sessions 5 and 7 cancelled: the three positions after session 4 are sessions 6, 8, 9.
    scores = framed(held([4.5, 4.5, 4.5, 3.0, 3.0, 3.0, 4.5], [1, 2, 3, 4, 6, 8, 9]))
    (flag,) = detect(scores, only("reliable_drop", norms=norms())).itertuples()
    assert (flag.session, flag.repair_status, flag.repaired_session) == (4, "repaired", 7)


def test_the_sudden_loss_windows_count_positions_and_name_the_numbers():
    scores = framed(held([4.5, 4.5, 4.5, 3.0, 3.0, 3.0], [1, 3, 4, 5, 7, 8]))
    (flag,) = detect(scores, only("sudden_loss", norms=norms())).itertuples()
    assert flag.session == 4
    assert "the mean of sessions 1 to 4 (4.5, 3 scores)" in flag.explanation
    assert "the mean of sessions 5 to 8 (3.0, 3 scores)" in flag.explanation


def test_a_pre_window_before_the_first_position_starts_at_the_first_session():
    scores = framed(held([4.5, 4.5, 3.0, 3.0, 3.0], [2, 3, 4, 5, 6]))
    (flag,) = detect(scores, only("sudden_loss", norms=norms())).itertuples()
    assert "the mean of sessions 2 to 3 (4.5, 2 scores)" in flag.explanation


def test_ceiling_reads_the_first_positions():
    scores = framed(held([5.0, 5.0, 5.0, 4.0], [1, 3, 4, 5]))
    (flag,) = detect(scores, only("ceiling", scale_range=SCALE_RANGE)).itertuples()
    assert flag.session == 3


def test_missing_forms_counts_positions_and_names_the_numbers():
    scores = framed(held([4.0, NAN, NAN, NAN], [1, 2, 4, 6]))
    (flag,) = detect(scores, only("missing_forms")).itertuples()
    assert flag.session == 4
    assert flag.explanation == (
        "No client form was recorded at 3 completed sessions in a row (sessions 2 to 6); "
        "the run reached 3 at session 6."
    )


def test_a_position_without_rows_continues_the_numbers_of_the_one_before():
    rows = held([4.5, 4.5, 4.5, 3.0, 3.0, 3.0], [1, 5, 6, 7, 8, 9])
    # Position 2 has no rows at all: it is shown as session 2 (session 1 plus one).
    rows = [
        rows[0],
        *((client, rater, scale, p + 1, x, n) for client, rater, scale, p, x, n in rows[1:]),
    ]
    (flag,) = detect(framed(rows), only("sudden_loss", norms=norms())).itertuples()
    assert flag.session == 5
    assert "the mean of sessions 2 to 6 (4.5, 2 scores)" in flag.explanation


def test_without_numbers_explanations_name_the_positions():
    scores = framed(held([4.5, 3.0], [1, 2])).drop(columns="number")
    (flag,) = detect(scores, only("reliable_drop", norms=norms())).itertuples()
    assert "from 4.5 at session 1 to 3.0 at session 2 " in flag.explanation


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        ([1, 3, 3], "increase with the session positions"),
        ([2, 1, 3], "increase with the session positions"),
        ([1, 0, 3], "number must be 1 or more"),
        ([1, 2.5, 3], "number must be whole numbers"),
    ],
)
def test_numbers_must_be_whole_and_increase_with_the_positions(numbers, message):
    scores = framed(held([4.0, 4.0, 4.0], [1, 2, 3]))
    scores["number"] = numbers
    with pytest.raises(ValueError, match=message):
        detect(scores)


def test_rows_of_one_position_must_agree_on_its_number():
    scores = framed(held([4.0, 4.0], [1, 2]), held([4.0, 4.0], [1, 3], rater="therapist"))
    with pytest.raises(ValueError, match="differ in number"):
        detect(scores)
