"""The benchmark helper runs and reports its figures (speed itself is not asserted here)."""

from alliance.analytics.bench import bench_detect, bench_memory, course_scores, synthetic_scores


def test_synthetic_scores_has_requested_rows_and_columns():
    scores = synthetic_scores(5_000, seed=1)
    assert len(scores) == 5_000
    assert list(scores.columns) == ["client", "rater", "scale", "session", "score"]
    assert set(scores["scale"]) == {"bond", "goal", "task", "total", "tension"}
    assert set(scores.loc[scores["scale"] == "tension", "rater"]) == {"client"}
    assert scores["score"].isna().any()


def test_bench_detect_reports_figures():
    result = bench_detect(n_rows=5_000, seed=2)
    assert set(result) == {"rows", "seconds", "flags", "rows_per_second"}
    assert result["rows"] == 5_000
    assert result["flags"] > 0


def test_course_scores_shape():
    scores = course_scores(n_clients=4, n_sessions=5)
    # 4 clients x 5 sessions x 2 raters x 5 scales.
    assert len(scores) == 200
    assert scores.groupby("client")["session"].max().tolist() == [5, 5, 5, 5]


def test_bench_memory_reports_figures():
    result = bench_memory(n_clients=50, n_sessions=10)
    assert result["rows"] == 5_000
    assert result["peak_detect_mib"] >= 0
