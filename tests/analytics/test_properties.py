"""Properties of detect, and agreement with the plain-loop reference on random data."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliance.analytics import detect
from tests.analytics.builders import COLUMNS, norms
from tests.analytics.reference import reference_detect
from tests.analytics.synthetic import random_config, random_scores

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A score on a quarter-point grid, a missing score (NaN row) or no row at all (None).
cell = st.one_of(
    st.integers(min_value=4, max_value=20).map(lambda quarter: quarter / 4),
    st.just(math.nan),
    st.none(),
)


@st.composite
def scores_frames(draw: st.DrawFn) -> pd.DataFrame:
    """1-3 clients, both raters, total and bond scales, a tension item, gaps of both kinds."""
    rows = []
    for client in range(draw(st.integers(1, 3))):
        for rater in ("client", "therapist"):
            for scale in ("total", "bond"):
                values = draw(st.lists(cell, max_size=12))
                rows += [
                    (client, rater, scale, session, value)
                    for session, value in enumerate(values, start=1)
                    if value is not None
                ]
        tension = draw(st.lists(st.sampled_from([0.0, 1.0, math.nan, None]), max_size=12))
        rows += [
            (client, "client", "tension", session, value)
            for session, value in enumerate(tension, start=1)
            if value is not None
        ]
    return pd.DataFrame(rows, columns=COLUMNS).astype({"session": int, "score": float})


CONFIG = {
    "norms": norms(sd=0.4, reliability=0.7),
    "scale_range": {"client": {"min": 1.0, "max": 5.0}},
    "cutoffs": {"client": {"total": 3.0}},
    "rater_discrepancy": {"direction": "both"},
    "below_baseline": {"min_prior": 2},
    "sudden_loss": {"cutoff": 0.5, "pct": 0.1},
}
DROP_RULES = ("reliable_drop", "below_baseline", "sudden_loss")


def assert_same_flags(engine: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same rows, magnitudes within 1e-9, same repair statuses (explanations not compared)."""
    key = ["client", "rater", "scale", "session", "rule"]
    assert (
        engine[key].astype(object).values.tolist() == expected[key].astype(object).values.tolist()
    )
    difference = np.abs(engine["magnitude"].to_numpy(float) - expected["magnitude"].to_numpy(float))
    assert np.max(difference, initial=0.0) <= 1e-9
    assert engine["repair_status"].tolist() == expected["repair_status"].tolist()
    assert repaired(engine) == repaired(expected)


def repaired(flags: pd.DataFrame) -> list[int | None]:
    return [None if pd.isna(value) else int(value) for value in flags["repaired_session"]]


@SETTINGS
@given(scores=scores_frames(), shift=st.integers(-200, 200).map(lambda cents: cents / 100))
def test_adding_a_constant_changes_no_reliable_drop_or_below_baseline_flag(scores, shift):
    shifted = scores.copy()
    rating = shifted["scale"] != "tension"
    shifted.loc[rating, "score"] += shift
    kept = ["reliable_drop", "below_baseline"]
    before = detect(scores, CONFIG)
    after = detect(shifted, CONFIG)
    assert_same_flags(after[after["rule"].isin(kept)], before[before["rule"].isin(kept)])


@SETTINGS
@given(scores=scores_frames(), seed=st.integers(0, 2**32 - 1))
def test_row_order_changes_nothing(scores, seed):
    shuffled = scores.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    pd.testing.assert_frame_equal(detect(shuffled, CONFIG), detect(scores, CONFIG))


@SETTINGS
@given(scores=scores_frames())
def test_never_decreasing_series_give_no_drop_flags(scores):
    rising = scores.sort_values("session", kind="stable").copy()
    present = rising["score"].notna()
    # Replace each series' present scores by their running maximum: never decreasing.
    rising.loc[present, "score"] = (
        rising[present].groupby(["client", "rater", "scale"])["score"].cummax()
    )
    flags = detect(rising, CONFIG)
    assert not flags["rule"].isin(DROP_RULES).any()


@SETTINGS
@given(scores=scores_frames())
def test_matches_reference_on_generated_frames(scores):
    assert_same_flags(detect(scores, CONFIG), reference_detect(scores, CONFIG))


@pytest.mark.parametrize("seed", range(12))
def test_matches_reference_on_random_clinics(seed):
    scores, config = random_scores(seed), random_config(seed)
    flags = detect(scores, config)
    assert_same_flags(flags, reference_detect(scores, config))
    # Several clinics per seed flag every rule somewhere across the seeds.
    assert len(flags) > 0


def test_random_clinics_exercise_every_rule_and_status():
    flags = pd.concat([detect(random_scores(seed), random_config(seed)) for seed in range(12)])
    assert set(flags["rule"]) == {
        "reliable_drop",
        "below_baseline",
        "sudden_loss",
        "low_alliance",
        "rater_discrepancy",
        "client_reported_tension",
        "ceiling",
        "missing_forms",
    }
    assert set(flags["repair_status"].dropna()) == {"repaired", "unrepaired", "pending"}
    assert set(flags["rater"]) == {"client", "therapist"}
