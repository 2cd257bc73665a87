"""Hand-computed series for every rule: gaps, ties at thresholds, short series, both raters."""

import pandas as pd
import pytest

from alliance.analytics import detect
from tests.analytics.builders import NAN, frame, norms, only, series


def rows(flags: pd.DataFrame) -> list[tuple]:
    """(client, rater, scale, session, rule, magnitude rounded, status, repaired session)."""
    return [
        (
            flag.client,
            flag.rater,
            flag.scale,
            flag.session,
            flag.rule,
            round(flag.magnitude, 6),
            flag.repair_status,
            None if pd.isna(flag.repaired_session) else int(flag.repaired_session),
        )
        for flag in flags.itertuples(index=False)
    ]


# reliable_drop: RC = 1.96 * sqrt(2) * 0.5 * sqrt(1 - 0.5) = 0.98 with builders.norms().


def test_reliable_drop_flags_drop_and_finds_repair():
    scores = frame(series([4.5, 4.5, 3.0, 3.5, 4.6]))
    flags = detect(scores, only("reliable_drop", norms=norms()))
    # 4.5 -> 3.0 is a drop of 1.5 >= 0.98; 4.6 at session 5 is back to >= 4.5 within 3 sessions.
    assert rows(flags) == [
        ("A", "client", "total", 3, "reliable_drop", 1.5, "repaired", 5),
    ]
    assert flags.explanation[0] == (
        "Client-rated total fell from 4.5 at session 2 to 3.0 at session 3 "
        "(drop 1.5 ≥ reliable-change threshold 0.98, from instrument norms)."
    )


@pytest.mark.parametrize("rule", ["reliable_drop", "below_baseline", "sudden_loss"])
def test_drop_rules_watch_the_total_unless_told_otherwise(rule):
    bond = [4.5, 4.5, 4.5, 4.4, 2.0, 2.1, 2.0]
    scores = frame(series(bond, scale="bond"), series([4.4] * 7))
    entry = {"sd": 0.5, "reliability": 0.5, "source": "instrument norms"}
    config_norms = {"client": {"total": dict(entry), "bond": dict(entry)}}
    assert detect(scores, only(rule, norms=config_norms)).empty
    watched = detect(scores, only(rule, norms=config_norms, params={"scales": ["bond"]}))
    assert set(watched.scale) == {"bond"}
    assert list(watched.session) == [5]


@pytest.mark.parametrize(
    ("after", "flagged"),
    [(3.02, True), (3.0200000001, True), (3.03, False)],
)
def test_reliable_drop_tie_at_threshold_flags(after, flagged):
    # 4.0 - 3.02 = 0.98 = RC exactly (up to float error, which the 1e-9 slack absorbs).
    flags = detect(frame(series([4.0, after])), only("reliable_drop", norms=norms()))
    assert (len(flags) == 1) is flagged


@pytest.mark.parametrize("gap", [NAN, None])
def test_reliable_drop_needs_adjacent_session_numbers(gap):
    # Session 2 is missing (NaN row or no row): 4.5 -> 3.0 spans two session numbers.
    flags = detect(frame(series([4.5, gap, 3.0])), only("reliable_drop", norms=norms()))
    assert flags.empty


def test_reliable_drop_repair_pending_and_unrepaired():
    pending = frame(series([4.5, 3.0, 3.2]))
    unrepaired = frame(series([4.5, 3.0, 3.2, 3.3, 3.1]))
    # Repair has to happen at sessions 3-5 (window 3): missing sessions use up the window.
    late = frame(series([4.5, 3.0, NAN, NAN, NAN, 4.6]))
    config = only("reliable_drop", norms=norms())
    assert rows(detect(pending, config))[0][-2:] == ("pending", None)
    assert rows(detect(unrepaired, config))[0][-2:] == ("unrepaired", None)
    assert rows(detect(late, config))[0][-2:] == ("unrepaired", None)


def test_reliable_drop_repair_window_parameter():
    scores = frame(series([4.5, 3.0, 3.2, 3.3, 4.5]))
    narrow = only("reliable_drop", norms=norms(), params={"repair_window": 2})
    wide = only("reliable_drop", norms=norms(), params={"repair_window": 3})
    # Back to 4.5 at session 5 = flagged session 2 + 3: inside a window of 3, not of 2.
    assert rows(detect(scores, narrow))[0][-2:] == ("unrepaired", None)
    assert rows(detect(scores, wide))[0][-2:] == ("repaired", 5)


def test_reliable_drop_repair_known_session_counts_even_with_nan():
    # The client's last known session is 5 (a NaN row), so the window 3..5 has passed.
    scores = frame(series([4.5, 3.0, 3.2]), series([NAN, NAN, NAN, NAN, NAN], rater="therapist"))
    assert rows(detect(scores, only("reliable_drop", norms=norms())))[0][-2:] == (
        "unrepaired",
        None,
    )


def test_reliable_drop_both_raters_own_norms_and_skip_without_norms():
    scores = frame(
        series([4.5, 3.0]),
        series([4.0, 3.5], rater="therapist"),
        series([4.5, 3.0], scale="bond"),
    )
    config = only("reliable_drop", norms=norms(sd=0.25, reliability=0.5))
    # RC = 0.49: client drop 1.5 and therapist drop 0.5 both count; bond has no norms.
    assert [(flag[1], flag[2], flag[5]) for flag in rows(detect(scores, config))] == [
        ("client", "total", 1.5),
        ("therapist", "total", 0.5),
    ]


def test_reliable_drop_short_series_and_rising_series():
    config = only("reliable_drop", norms=norms())
    assert detect(frame(series([4.0])), config).empty
    assert detect(frame(series([3.0, 4.0, 5.0])), config).empty


def test_reliable_drop_explanation_names_clinic_norms():
    clinic = {
        "client": {"total": {"sd": 0.5, "reliability": 0.5, "source": "clinic data (41 clients)"}}
    }
    flags = detect(frame(series([4.5, 3.0])), only("reliable_drop", norms=clinic))
    assert flags.explanation[0].endswith("from clinic data (41 clients)).")


# below_baseline: reference SD 0.5 from builders.norms().


def test_below_baseline_flags_first_session_of_a_run_and_repair_to_baseline_mean():
    scores = frame(series([4.0, 4.2, 4.4, 3.0, 2.0, 4.5]))
    flags = detect(scores, only("below_baseline", norms=norms()))
    # Session 4: prior mean 4.2, own SD 0.2 < reference 0.5, threshold 4.2 - 2 * 0.5 = 3.2.
    # Session 5: prior mean 3.9, own SD 0.62, threshold 2.66; 2.0 is below but continues the run.
    # Repair: 4.5 >= baseline mean 4.2 at session 6.
    assert rows(flags) == [("A", "client", "total", 4, "below_baseline", 1.2, "repaired", 6)]
    assert flags.explanation[0] == (
        "Client-rated total of 3.0 at session 4 is below the client's baseline threshold 3.2 "
        "(mean 4.2 of 3 earlier scores minus 2.0 SD of 0.5; the SD is the larger of the "
        "client's own 0.2 and the reference 0.5 from instrument norms)."
    )


@pytest.mark.parametrize(("k", "flagged"), [(2.0, False), (1.0, True)])
def test_below_baseline_strict_and_lenient(k, flagged):
    # Prior mean 4.2, s = 0.5: strict threshold 3.2, lenient 3.7; 3.6 is below only the latter.
    scores = frame(series([4.0, 4.2, 4.4, 3.6]))
    flags = detect(scores, only("below_baseline", norms=norms(), params={"k": k}))
    assert (len(flags) == 1) is flagged


def test_below_baseline_tie_is_not_below():
    # 3.2 equals the threshold 4.2 - 2 * 0.5: "below" is strict.
    flags = detect(frame(series([4.0, 4.2, 4.4, 3.2])), only("below_baseline", norms=norms()))
    assert flags.empty


def test_below_baseline_needs_min_prior_present_scores():
    config = only("below_baseline", norms=norms())
    assert detect(frame(series([4.0, 4.2, 1.0])), config).empty
    # Missing sessions are not prior scores: only 2 present before session 4.
    assert detect(frame(series([4.0, NAN, 4.2, 1.0])), config).empty
    two = only("below_baseline", norms=norms(), params={"min_prior": 2})
    assert len(detect(frame(series([4.0, 4.2, 1.0])), two)) == 1


def test_below_baseline_missing_session_breaks_a_run():
    # Session 6: prior mean (4 + 4.2 + 4.4 + 3) / 4 = 3.9, own SD 0.62, threshold 2.66 > 2.0.
    scores = frame(series([4.0, 4.2, 4.4, 3.0, NAN, 2.0]))
    flags = detect(scores, only("below_baseline", norms=norms()))
    assert [flag[3] for flag in rows(flags)] == [4, 6]
    assert rows(flags)[1][5] == 1.9


def test_below_baseline_uses_own_sd_when_larger():
    # Prior 3, 4, 5: mean 4, own SD 1 > reference 0.1: threshold 4 - 2 * 1 = 2; 1.5 is below.
    scores = frame(series([3.0, 4.0, 5.0, 1.5]))
    flags = detect(scores, only("below_baseline", norms=norms(sd=0.1)))
    assert rows(flags) == [("A", "client", "total", 4, "below_baseline", 2.5, "pending", None)]
    assert detect(
        frame(series([3.0, 4.0, 5.0, 2.5])), only("below_baseline", norms=norms(sd=0.1))
    ).empty


def test_below_baseline_skips_series_without_norms():
    assert detect(frame(series([4.0, 4.2, 4.4, 1.0])), only("below_baseline")).empty


# sudden_loss: pre = sessions n-2..n, post = n+1..n+3. With cutoff 0.3 and pct 0 only
# criterion 3 decides. Ratios (mean(pre) - mean(post)) / pooled SD computed by hand:
SUDDEN_CASES = [
    # df 4 (3 + 3 scores): pre 4, 4, 4.5 (mean 4.167, SD 0.289); post 2.5, 2.5, 3.5 (mean 2.833,
    # SD 0.577); pooled SD 0.456; ratio 1.333 / 0.456 = 2.921 > 2.776.
    ([4.0, 4.0, 4.5, 2.5, 2.5, 3.5], 4, "2.776", True),
    # df 4: post 1.5, 3, 3 (mean 2.5, SD 0.866), pooled 0.645, ratio 2.582 < 2.776.
    ([4.0, 4.0, 4.5, 1.5, 3.0, 3.0], 4, "2.776", False),
    # df 3 (3 + 2 scores; session 6 known but missing): post 2, 3 (mean 2.5, SD 0.707),
    # pooled 0.471, ratio 3.536 > 3.182.
    ([4.0, 4.0, 4.5, 2.0, 3.0, NAN], 3, "3.182", True),
    # df 3: post 1.5, 3 (mean 2.25, SD 1.061), pooled 0.645, ratio 2.921: above 2.776 (df 4)
    # but below 3.182, so no flag.
    ([4.0, 4.0, 4.5, 1.5, 3.0, NAN], 3, "3.182", False),
    # df 3 (2 + 3 scores; session 1 has no row): pre 3.5, 4 (mean 3.75, SD 0.354); post 3, 3, 3
    # (SD 0); pooled SD = sqrt(0.125 / 3) = 0.204, ratio 0.75 / 0.204 = 3.674 > 3.182.
    ([None, 3.5, 4.0, 3.0, 3.0, 3.0], 3, "3.182", True),
    # df 3: pre 4, 4; post 3, 3.5, 3.5 (mean 3.333, SD 0.289); pooled 0.236, ratio 2.828:
    # above 2.776 but below 3.182.
    ([None, 4.0, 4.0, 3.0, 3.5, 3.5], 3, "3.182", False),
    # df 2 (2 + 2 scores; session 1 has no row): pre 4, 5 (mean 4.5, SD 0.707); post 1.5, 2
    # (mean 1.75, SD 0.354); pooled 0.559, ratio 4.919 > 4.303.
    ([None, 4.0, 5.0, 1.5, 2.0, NAN], 2, "4.303", True),
    # df 2: pre 4, 4.5; post 1.5, 2.5; pooled 0.559, ratio 4.025: above 3.182 but below 4.303.
    ([None, 4.0, 4.5, 1.5, 2.5, NAN], 2, "4.303", False),
]


@pytest.mark.parametrize(("values", "df", "critical", "flagged"), SUDDEN_CASES)
def test_sudden_loss_critical_value_follows_window_sizes(values, df, critical, flagged):
    config = only("sudden_loss", params={"cutoff": 0.3, "pct": 0.0})
    flags = detect(frame(series(values)), config)
    assert (len(flags) == 1) is flagged
    if flagged:
        assert flags.session[0] == 4
        assert f"more than t({df}) {critical} times the pooled SD" in flags.explanation[0]


def test_sudden_loss_explanation_and_magnitude():
    config = only("sudden_loss", params={"cutoff": 0.3, "pct": 0.0})
    flags = detect(frame(series([4.0, 4.0, 4.5, 2.5, 2.5, 3.5])), config)
    # Repair window 5..7 is still open: the last known session is 6.
    assert rows(flags) == [("A", "client", "total", 4, "sudden_loss", 2.0, "pending", None)]
    assert flags.explanation[0] == (
        "Client-rated total fell from 4.5 at session 3 to 2.5 at session 4: drop 2.0 ≥ cutoff "
        "0.3 and ≥ 0% of 4.5; the mean of sessions 1 to 3 (4.17, 3 scores) exceeds the mean of "
        "sessions 4 to 6 (2.83, 3 scores) by 1.33, more than t(4) 2.776 times the pooled SD 0.46."
    )


def test_sudden_loss_waits_for_the_post_window():
    config = only("sudden_loss", params={"cutoff": 0.3, "pct": 0.0})
    # Last known session 5 < n + 3 = 6: not evaluated yet, although post has 2 scores.
    assert detect(frame(series([4.0, 4.0, 4.5, 2.0, 3.0])), config).empty
    # A therapist row makes session 6 known: now post = sessions 4..6 exists.
    late = frame(series([4.0, 4.0, 4.5, 2.0, 3.0]), series([NAN] * 6, rater="therapist"))
    assert len(detect(late, config)) == 1


def test_sudden_loss_needs_two_scores_per_window_and_both_drop_scores():
    config = only("sudden_loss", params={"cutoff": 0.3, "pct": 0.0})
    # Pre window has one score (sessions 0 and 1 do not exist / are missing).
    assert detect(frame(series([NAN, 4.5, 2.0, 2.0, 2.0])), config).empty
    # Post window has one score.
    assert detect(frame(series([4.0, 4.0, 4.5, 2.0, NAN, NAN])), config).empty
    # x(n+1) missing: the drop is not between adjacent sessions.
    assert detect(frame(series([4.0, 4.0, 4.5, NAN, 2.0, 2.0, 2.0])), config).empty


def test_sudden_loss_pct_criterion():
    # Drop 1.0 from 4.2 is 23.8% of the pre-drop score: below the default 25%.
    values = [3.8, 4.0, 4.2, 3.2, 3.4, 3.6]
    strict = only("sudden_loss", params={"cutoff": 0.3})
    loose = only("sudden_loss", params={"cutoff": 0.3, "pct": 0.2})
    assert detect(frame(series(values)), strict).empty
    assert len(detect(frame(series(values)), loose)) == 1


def test_sudden_loss_default_cutoff_is_reliable_change_and_needs_norms():
    values = [4.0, 4.0, 4.5, 2.5, 2.5, 3.5]
    assert detect(frame(series(values)), only("sudden_loss")).empty
    flags = detect(frame(series(values)), only("sudden_loss", norms=norms()))
    assert "reliable-change threshold 0.98 (from instrument norms)" in flags.explanation[0]
    # RC 2.77 (sd 1, r 0.5 -> 1.96): the drop of 2.0 is no longer enough with sd 1.5.
    assert detect(frame(series(values)), only("sudden_loss", norms=norms(sd=1.5))).empty


def test_sudden_loss_alpha_01_uses_stricter_critical_value():
    # Ratio 4.919 with df 2: above 4.303 (alpha .05) but below 9.925 (alpha .01).
    values = [None, 4.0, 5.0, 1.5, 2.0, NAN]
    config = only("sudden_loss", params={"cutoff": 0.3, "pct": 0.0, "alpha": 0.01})
    assert detect(frame(series(values)), config).empty


# low_alliance


def test_low_alliance_flags_first_session_of_each_run():
    scores = frame(series([3.5, 2.8, 2.5, 3.2, 2.9, NAN, 2.7, 3.0]))
    flags = detect(scores, only("low_alliance", cutoffs={"client": {"total": 3.0}}))
    # Runs below 3.0: sessions 2-3, 5, 7 (session 6 is missing and breaks the run); 3.0 ties.
    assert rows(flags) == [
        ("A", "client", "total", 2, "low_alliance", 0.2, None, None),
        ("A", "client", "total", 5, "low_alliance", 0.1, None, None),
        ("A", "client", "total", 7, "low_alliance", 0.3, None, None),
    ]
    assert (
        flags.explanation[0]
        == "Client-rated total of 2.8 at session 2 is below the cutoff 3.0 by 0.2."
    )


def test_low_alliance_off_without_cutoff_and_rule_cutoffs_override():
    scores = frame(series([2.5, 3.5]), series([3.5, 2.5], rater="therapist"))
    assert detect(scores, only("low_alliance")).empty
    config = only(
        "low_alliance",
        cutoffs={"client": {"total": 3.0}},
        params={"cutoffs": {"client": {"total": 2.0}, "therapist": {"total": 3.0}}},
    )
    assert [(flag[1], flag[3]) for flag in rows(detect(scores, config))] == [("therapist", 2)]


# rater_discrepancy: SD = mean of the raters' norm SDs = (0.6 + 0.4) / 2 = 0.5.

DISCREPANCY_NORMS = {
    "client": {"total": {"sd": 0.6, "reliability": 0.8, "source": "instrument norms"}},
    "therapist": {"total": {"sd": 0.4, "reliability": 0.8, "source": "instrument norms"}},
}


def test_rater_discrepancy_therapist_higher_with_tie():
    scores = frame(
        series([3.0, 3.0, 4.5, NAN]),
        series([3.5, 3.4, 3.0, 4.0], rater="therapist"),
    )
    flags = detect(scores, only("rater_discrepancy", norms=DISCREPANCY_NORMS))
    # Session 1: d = 0.5 / 0.5 = 1.0 = threshold (flags); session 2: d = 0.8; session 3: d = -3.
    assert rows(flags) == [("A", "client", "total", 1, "rater_discrepancy", 0.5, None, None)]
    assert flags.explanation[0] == (
        "At session 1 the therapist rated total 3.5 and the client 3.0: the therapist's rating "
        "is 0.5 points higher (1.0 SD ≥ threshold 1.0 SD)."
    )


def test_rater_discrepancy_both_directions_flags_the_lower_rater():
    scores = frame(series([3.0, 4.5]), series([3.5, 3.0], rater="therapist"))
    config = only("rater_discrepancy", norms=DISCREPANCY_NORMS, params={"direction": "both"})
    assert rows(detect(scores, config)) == [
        ("A", "client", "total", 1, "rater_discrepancy", 0.5, None, None),
        ("A", "therapist", "total", 2, "rater_discrepancy", 1.5, None, None),
    ]


def test_rater_discrepancy_scales_and_norms():
    scores = frame(
        series([3.0], scale="bond"),
        series([5.0], scale="bond", rater="therapist"),
        series([3.0]),
        series([5.0], rater="therapist"),
    )
    bond_norms = {
        rater: {**DISCREPANCY_NORMS[rater], "bond": DISCREPANCY_NORMS[rater]["total"]}
        for rater in DISCREPANCY_NORMS
    }
    default = only("rater_discrepancy", norms=bond_norms)
    both_scales = only("rater_discrepancy", norms=bond_norms, params={"scales": ["bond", "total"]})
    assert [flag[2] for flag in rows(detect(scores, default))] == ["total"]
    assert [flag[2] for flag in rows(detect(scores, both_scales))] == ["bond", "total"]
    # Without the therapist's norms there is no common SD: skipped.
    client_only = {"client": DISCREPANCY_NORMS["client"]}
    assert detect(scores, only("rater_discrepancy", norms=client_only)).empty


# client_reported_tension


def test_client_reported_tension_flags_yes_answers_only():
    scores = frame(
        series([0.0, 1.0, NAN, 1.0], scale="tension"),
        series([1.0], scale="tension", rater="therapist"),
    )
    flags = detect(scores, only("client_reported_tension"))
    assert rows(flags) == [
        ("A", "client", "tension", 2, "client_reported_tension", 1.0, None, None),
        ("A", "client", "tension", 4, "client_reported_tension", 1.0, None, None),
    ]
    assert flags.explanation[0] == (
        "At session 2 the client reported tension or a misunderstanding with the therapist."
    )


def test_tension_scale_is_ignored_by_other_rules():
    tension_norms = {
        "client": {"tension": {"sd": 0.1, "reliability": 0.5, "source": "instrument norms"}}
    }
    scores = frame(series([1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], scale="tension"))
    config = {
        "client_reported_tension": {"enabled": False},
        "missing_forms": {"enabled": False},
        "sudden_loss": {"cutoff": 0.5, "pct": 0.0},
        "rater_discrepancy": {"scales": ["total"]},
        "norms": tension_norms,
        "cutoffs": {"client": {"tension": 0.5}},
    }
    assert detect(scores, config).empty


# ceiling


def test_ceiling_flags_first_sessions_at_maximum_once():
    scale_range = {"client": {"min": 1.0, "max": 5.0}}
    flags = detect(
        frame(series([5.0, 5.0, 5.0, 5.0, 4.0])), only("ceiling", scale_range=scale_range)
    )
    assert rows(flags) == [("A", "client", "total", 3, "ceiling", 3.0, None, None)]
    assert "invite honest feedback" in flags.explanation[0]


def test_ceiling_needs_every_first_session_present_at_maximum():
    config = only("ceiling", scale_range={"client": {"min": 1.0, "max": 5.0}})
    assert detect(frame(series([5.0, 5.0, NAN, 5.0])), config).empty
    assert detect(frame(series([5.0, 4.9, 5.0])), config).empty
    # Sessions are numbered from 1: a course whose data start at session 2 is not judged.
    assert detect(frame(series([5.0, 5.0, 5.0], start=2)), config).empty
    # Therapist ratings at the maximum do not count.
    assert detect(frame(series([5.0, 5.0, 5.0], rater="therapist")), config).empty
    # No scale maximum known: off.
    assert detect(frame(series([5.0, 5.0, 5.0])), only("ceiling")).empty


def test_ceiling_sessions_parameter():
    config = only(
        "ceiling", scale_range={"client": {"min": 0.0, "max": 10.0}}, params={"sessions": 2}
    )
    assert rows(detect(frame(series([10.0, 10.0, 3.0])), config)) == [
        ("A", "client", "total", 2, "ceiling", 2.0, None, None)
    ]


# missing_forms


def test_missing_forms_flags_once_per_run_with_run_length():
    scores = frame(
        series([4.0, 4.0, NAN, NAN, NAN, NAN, 4.0]),
        series([4.0] * 7, rater="therapist"),
    )
    flags = detect(scores, only("missing_forms"))
    # Sessions 3-6 have no client form: the run reaches 3 at session 5 and is 4 long.
    assert rows(flags) == [("A", "client", "total", 5, "missing_forms", 4.0, None, None)]
    assert flags.explanation[0] == (
        "No client form was recorded at 4 completed sessions in a row (sessions 3 to 6); "
        "the run reached 3 at session 5."
    )


def test_missing_forms_counts_known_sessions_only():
    # Sessions 3 and 5 appear in no row (cancelled): sessions 2, 4, 6 are the run.
    scores = frame(
        series([4.0, NAN, None, NAN, None, NAN]),
        series([4.0, 4.0, None, 4.0, None, 4.0], rater="therapist"),
    )
    assert rows(detect(scores, only("missing_forms"))) == [
        ("A", "client", "total", 6, "missing_forms", 3.0, None, None)
    ]


def test_missing_forms_short_runs_and_therapist_only_clients():
    short = frame(series([4.0, NAN, NAN, 4.0, NAN, NAN]))
    assert detect(short, only("missing_forms")).empty
    therapist_only = frame(series([4.0, 4.0, 4.0], rater="therapist", client="B"))
    assert rows(detect(therapist_only, only("missing_forms"))) == [
        ("B", "client", "total", 3, "missing_forms", 3.0, None, None)
    ]
    # A tension answer alone is no form.
    tension_only = frame(series([0.0, 0.0], scale="tension"))
    one = only("missing_forms", params={"sessions": 2})
    assert rows(detect(tension_only, one)) == [
        ("A", "client", "total", 2, "missing_forms", 2.0, None, None)
    ]


# Several clients and rules at once


def test_several_clients_and_rules_sorted():
    scores = frame(
        series([4.5, 3.0, 3.0, 3.0], client="b"),
        series([4.5, 3.0, 3.0, 3.0], client="a"),
        series([4.5, 3.0, 3.0, 3.0], client="a", rater="therapist"),
        series([0.0, 1.0], client="a", scale="tension"),
    )
    config = {
        "norms": norms(),
        "cutoffs": {"client": {"total": 3.5}},
        "missing_forms": {"enabled": False},
    }
    flags = detect(scores, config)
    assert [(flag[0], flag[1], flag[2], flag[3], flag[4]) for flag in rows(flags)] == [
        ("a", "client", "tension", 2, "client_reported_tension"),
        ("a", "client", "total", 2, "low_alliance"),
        ("a", "client", "total", 2, "reliable_drop"),
        ("a", "therapist", "total", 2, "reliable_drop"),
        ("b", "client", "total", 2, "low_alliance"),
        ("b", "client", "total", 2, "reliable_drop"),
    ]
