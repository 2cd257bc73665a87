"""The output frame's shape and dtypes, and validation of the scores frame."""

import numpy as np
import pandas as pd
import pytest

from alliance.analytics import FLAG_COLUMNS, detect
from tests.analytics.builders import COLUMNS, NAN, frame, norms, only, series

CONFIG = {"norms": norms(), "cutoffs": {"client": {"total": 3.5}}}


def test_columns_and_dtypes():
    flags = detect(frame(series([4.5, 3.0, 3.0, 4.6], client=7)), CONFIG)
    assert (
        tuple(flags.columns)
        == FLAG_COLUMNS
        == (
            "client",
            "rater",
            "scale",
            "session",
            "rule",
            "magnitude",
            "explanation",
            "repair_status",
            "repaired_session",
        )
    )
    assert flags["client"].dtype == np.int64
    for column in ("rater", "scale", "rule", "explanation", "repair_status"):
        assert flags[column].dtype == object
    assert flags["session"].dtype == np.int64
    assert flags["magnitude"].dtype == np.float64
    assert flags["repaired_session"].dtype == "Int64"
    low = flags[flags["rule"] == "low_alliance"].iloc[0]
    assert low["repair_status"] is None
    assert low["repaired_session"] is pd.NA
    drop = flags[flags["rule"] == "reliable_drop"].iloc[0]
    assert drop["repair_status"] == "repaired"
    assert drop["repaired_session"] == 4


@pytest.mark.parametrize(
    "scores", [pd.DataFrame(columns=COLUMNS), pd.DataFrame()], ids=["columns", "bare"]
)
def test_empty_input_gives_empty_frame_with_columns(scores):
    flags = detect(scores)
    assert flags.empty
    assert tuple(flags.columns) == FLAG_COLUMNS
    assert flags["repaired_session"].dtype == "Int64"


def test_no_flags_gives_empty_frame_with_columns():
    flags = detect(frame(series([4.0, 4.0, 4.0])), CONFIG)
    assert flags.empty
    assert tuple(flags.columns) == FLAG_COLUMNS


def test_string_clients_keep_their_dtype_and_sort():
    scores = frame(series([4.5, 3.0], client="b"), series([4.5, 3.0], client="a"))
    flags = detect(scores, only("reliable_drop", norms=norms()))
    assert flags["client"].tolist() == ["a", "b"]
    assert flags["client"].dtype == scores["client"].dtype


def test_incomparable_clients_keep_first_appearance_order():
    scores = frame(
        series([4.5, 3.0], client="z"),
        series([4.5, 3.0], client=1),
        series([4.5, 3.0], client=("x", 2)),
    )
    flags = detect(scores, only("reliable_drop", norms=norms()))
    assert flags["client"].tolist() == ["z", 1, ("x", 2)]


def test_flexible_input_types():
    scores = frame(series([4.5, 3.0, NAN]))
    scores["session"] = scores["session"].astype(float)
    scores["score"] = scores["score"].astype("Float64")
    scores["rater"] = scores["rater"].astype("category")
    scores.index = ["x", "y", "z"]
    flags = detect(scores, only("reliable_drop", norms=norms()))
    assert flags["session"].tolist() == [2]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.drop(columns="score"), "lacks column"),
        (lambda s: s.assign(rater="patient"), "rater"),
        (lambda s: s.assign(scale=1), "scale"),
        (lambda s: s.assign(session=0), "start at 1"),
        (lambda s: s.assign(session=1.5), "whole numbers"),
        (lambda s: s.assign(session=[1, None]), "whole numbers"),
        (lambda s: s.assign(score=["high", "low"]), "numeric"),
        (lambda s: s.assign(score=np.inf), "finite"),
        (lambda s: s.assign(client=[None, None]), "client"),
        (lambda s: s.assign(session=1), "two scores"),
    ],
)
def test_malformed_scores_raise_value_error(change, message):
    scores = change(frame(series([4.0, 3.0])))
    with pytest.raises(ValueError, match=message):
        detect(scores)


def test_duplicate_rows_with_one_missing_score_are_allowed():
    scores = frame(series([4.5, 3.0]), series([NAN], start=2))
    assert len(detect(scores, only("reliable_drop", norms=norms()))) == 1
