"""DEFAULTS and validate_config."""

import copy

import pytest

from alliance.analytics import DEFAULTS, RULE_NAMES, detect, validate_config
from alliance.analytics.rules import RULES
from tests.analytics.builders import frame, series


def test_every_rule_has_enabled_and_defaults_fill_in():
    assert set(RULE_NAMES) == {
        "reliable_drop",
        "below_baseline",
        "sudden_loss",
        "low_alliance",
        "rater_discrepancy",
        "client_reported_tension",
        "ceiling",
        "missing_forms",
    }
    assert set(RULES) == set(DEFAULTS)
    merged = validate_config(None)
    for rule in RULE_NAMES:
        assert merged[rule]["enabled"] is True
        assert merged[rule] == DEFAULTS[rule]
    assert merged["norms"] == merged["scale_range"] == merged["cutoffs"] == {}


def test_partial_settings_merge_with_defaults_and_do_not_touch_defaults():
    before = copy.deepcopy(DEFAULTS)
    merged = validate_config(
        {
            "sudden_loss": {"cutoff": 0.8, "pct": 0.25, "alpha": 0.05},
            "below_baseline": {"enabled": False},
        }
    )
    assert merged["sudden_loss"] == {
        "enabled": True,
        "scales": ["total"],
        "cutoff": 0.8,
        "pct": 0.25,
        "alpha": 0.05,
        "repair_window": 3,
    }
    assert merged["below_baseline"]["enabled"] is False
    assert merged["below_baseline"]["k"] == 2.0
    merged["rater_discrepancy"]["scales"].append("bond")
    assert before == DEFAULTS


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sudden_los": {}}, "unknown rule"),
        ({"sudden_loss": {"pcnt": 0.2}}, "unknown parameter"),
        ({"sudden_loss": {"alpha": 0.5}}, "alpha"),
        ({"sudden_loss": {"alpha": 0}}, "alpha"),
        ({"sudden_loss": {"cutoff": -1}}, "cutoff"),
        ({"sudden_loss": {"pct": 1.5}}, "pct"),
        ({"sudden_loss": []}, "must be a dict"),
        ({"below_baseline": {"k": 0}}, "k"),
        ({"below_baseline": {"min_prior": 1}}, "min_prior"),
        ({"below_baseline": {"repair_window": 0}}, "repair_window"),
        ({"below_baseline": {"repair_window": 2.5}}, "repair_window"),
        (
            {"reliable_drop": {"repair_window": 2**31}},
            "repair_window must be a whole number from 1 to 20",
        ),
        ({"sudden_loss": {"repair_window": 21}}, "repair_window"),
        ({"below_baseline": {"min_prior": 21}}, "min_prior"),
        ({"below_baseline": {"k": 5.5}}, "k must be a number above 0 and at most 5"),
        ({"sudden_loss": {"cutoff": 101}}, "cutoff"),
        ({"rater_discrepancy": {"threshold": 1e9}}, "threshold"),
        ({"ceiling": {"sessions": 21}}, "sessions"),
        ({"missing_forms": {"sessions": 2**63}}, "sessions"),
        ({"low_alliance": {"cutoffs": {"client": {"total": 1e300}}}}, "from -100 to 100"),
        ({"reliable_drop": {"enabled": "yes"}}, "enabled"),
        ({"rater_discrepancy": {"direction": "client_higher"}}, "direction"),
        ({"rater_discrepancy": {"threshold": 0}}, "threshold"),
        ({"rater_discrepancy": {"scales": "total"}}, "scales"),
        ({"rater_discrepancy": {"scales": ["tension"]}}, "tension"),
        ({"ceiling": {"sessions": 0}}, "sessions"),
        ({"missing_forms": {"sessions": True}}, "sessions"),
        ({"low_alliance": {"cutoffs": {"patient": {"total": 3}}}}, "unknown rater"),
        ({"cutoffs": {"client": {"total": "low"}}}, "must be a number"),
        ({"norms": {"client": {"total": {"sd": 0.5}}}}, "sd, reliability and source"),
        ({"norms": {"client": {"total": {"sd": 0, "reliability": 0.8, "source": "x"}}}}, "sd"),
        (
            {"norms": {"client": {"total": {"sd": 0.5, "reliability": 1.0, "source": "x"}}}},
            "reliability",
        ),
        ({"scale_range": {"client": {"max": 5}}}, "min and max"),
        ({"scale_range": {"client": {"min": 5, "max": 1}}}, "min < max"),
        ("all", "must be a dict"),
    ],
)
def test_invalid_settings_raise_value_error(config, message):
    with pytest.raises(ValueError, match=message):
        validate_config(config)


def test_detect_validates_config_too():
    with pytest.raises(ValueError, match="unknown rule"):
        detect(frame(series([4.0])), {"nonsense": {}})


def test_empty_norms_entry_means_no_norms():
    merged = validate_config({"norms": {"therapist": {"total": {}}}})
    assert merged["norms"] == {"therapist": {}}
