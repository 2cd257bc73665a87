"""The benchmark helper runs and reports its figures (speed itself is not asserted here)."""

from alliance.analytics.bench import bench_detect, synthetic_scores


def test_synthetic_scores_has_requested_rows_and_columns():
    scores = synthetic_scores(5_000, seed=1)
    assert len(scores) == 5_000
    assert list(scores.columns) == ["client", "rater", "scale", "session", "score"]
    assert set(scores["scale"]) == {"bond", "goal", "task", "total", "tension"}
    assert scores["score"].isna().any()


def test_bench_detect_reports_figures():
    result = bench_detect(n_rows=5_000, seed=2)
    assert set(result) == {"rows", "seconds", "flags", "rows_per_second"}
    assert result["rows"] == 5_000
    assert result["flags"] > 0
