"""clinic_norms: SD of first scores and test-retest reliability from a clinic's own data."""

import numpy as np
import pandas as pd
import pytest

from alliance.analytics import clinic_norms, detect, validate_config
from tests.analytics.builders import NAN, frame, only, series


def clinic(n_clients: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Client totals whose first present score is ``first`` and second is ``second``."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(2, 5, n_clients).round(2)
    second = (first + rng.normal(0, 0.3, n_clients)).round(2)
    rows = []
    for client in range(n_clients):
        # A missing first session and a later third score must not change "first" and "second".
        rows += series([NAN, first[client], second[client], 1.0], client=client)
        rows += series([1.0], client=client, scale="tension")
    return frame(rows), first, second


def test_clinic_norms_sd_and_test_retest_reliability():
    scores, first, second = clinic(40)
    norms = clinic_norms(scores)
    entry = norms["client"]["total"]
    assert entry["sd"] == pytest.approx(np.std(first, ddof=1))
    assert entry["reliability"] == pytest.approx(np.corrcoef(first, second)[0, 1])
    assert entry["source"] == "clinic data (40 clients)"
    assert "tension" not in norms["client"]
    # The result is a valid "norms" config value.
    assert validate_config({"norms": norms})["norms"] == norms


def test_clinic_norms_needs_enough_clients():
    scores, _, _ = clinic(29)
    assert clinic_norms(scores) == {"client": {"total": {}}}
    assert clinic_norms(scores, min_clients=29)["client"]["total"]["source"] == (
        "clinic data (29 clients)"
    )


def test_clinic_norms_clients_with_one_score_count_for_sd_only():
    scores, first, second = clinic(30)
    single = frame([(100 + i, "client", "total", 1, 5.0) for i in range(10)])
    entry = clinic_norms(pd.concat([scores, single], ignore_index=True))["client"]["total"]
    assert entry["sd"] == pytest.approx(np.std(np.concatenate([first, [5.0] * 10]), ddof=1))
    assert entry["reliability"] == pytest.approx(np.corrcoef(first, second)[0, 1])
    assert entry["source"] == "clinic data (30 clients)"


def test_clinic_norms_unusable_reliability_gives_empty_entry():
    rows = []
    for client in range(30):
        # Second score falls as the first rises: negative test-retest correlation.
        rows += series([2.0 + client / 10, 5.0 - client / 10], client=client, rater="therapist")
    assert clinic_norms(frame(rows)) == {"therapist": {"total": {}}}


def test_reliable_drop_explanation_names_clinic_source():
    scores, _, _ = clinic(40)
    norms = clinic_norms(scores)
    drop = frame(series([5.0, 1.0], client="new"))
    flags = detect(drop, only("reliable_drop", norms=norms))
    assert flags["explanation"][0].endswith("from clinic data (40 clients)).")
