"""docs/ruptures.md: every rule and parameter is documented and the worked examples are real."""

import re
from pathlib import Path

import pytest

from alliance.analytics import DEFAULTS, detect
from tests.analytics.builders import NAN, frame, only, series

DOC = (Path(__file__).resolve().parents[2] / "docs" / "ruptures.md").read_text()

NORMS = {
    "client": {"total": {"sd": 0.6, "reliability": 0.85, "source": "instrument norms"}},
    "therapist": {"total": {"sd": 0.5, "reliability": 0.85, "source": "instrument norms"}},
}


def numbered(scores, numbers):
    """The frame with a ``number`` column: the session number of each position."""
    return scores.assign(number=scores["session"].map(dict(enumerate(numbers, start=1))))


# The worked example of each rule, as described in the doc.
EXAMPLES = {
    "reliable_drop": (
        frame(series([4.5, 4.3, 3.5, 3.9, 4.4])),
        only("reliable_drop", norms=NORMS),
        (3, 0.8, "repaired"),
    ),
    "below_baseline": (
        frame(series([4.2, 4.4, 4.0, 4.3, 2.9, 3.4, 3.8, 4.3])),
        only("below_baseline", norms=NORMS),
        (5, 1.325, "repaired"),
    ),
    "sudden_loss": (
        frame(series([4.2, 4.4, 4.5, 3.2, 3.4, 3.3])),
        only("sudden_loss", norms=NORMS),
        (4, 1.3, "pending"),
    ),
    "low_alliance": (
        frame(series([3.4, 2.8, 2.6, 3.1])),
        only("low_alliance", cutoffs={"client": {"total": 3.0}}),
        (2, 0.2, None),
    ),
    "rater_discrepancy": (
        frame(series([3.2]), series([4.1], rater="therapist")),
        only("rater_discrepancy", norms=NORMS),
        (1, 0.9, None),
    ),
    "client_reported_tension": (
        frame(series([0.0, 0.0, 1.0], scale="tension")),
        only("client_reported_tension"),
        (3, 1.0, None),
    ),
    "ceiling": (
        frame(series([5.0, 5.0, 5.0, 4.6])),
        only("ceiling", scale_range={"client": {"min": 1.0, "max": 5.0}}),
        (3, 3.0, None),
    ),
    "missing_forms": (
        # Session 6 was cancelled: positions 1-6 are sessions 1-5 and 7.
        numbered(
            frame(
                series([4.1, 4.0, NAN, NAN, NAN, NAN]),
                series([4.0, 4.0, 4.1, 3.9, 4.0, 4.2], rater="therapist"),
            ),
            [1, 2, 3, 4, 5, 7],
        ),
        only("missing_forms"),
        (5, 4.0, None),
    ),
}


@pytest.mark.parametrize("rule", list(DEFAULTS))
def test_every_rule_and_parameter_is_documented(rule):
    section = re.search(rf"### {rule}\n(.*?)(?=\n### |\n## )", DOC, re.S)
    assert section, f"no section for {rule}"
    for parameter in DEFAULTS[rule]:
        if parameter != "enabled":
            assert f"`{parameter}`" in section.group(1), f"{rule}.{parameter} undocumented"


@pytest.mark.parametrize("rule", list(EXAMPLES))
def test_worked_example_matches_the_engine(rule):
    scores, config, (session, magnitude, status) = EXAMPLES[rule]
    flags = detect(scores, config)
    assert len(flags) == 1
    flag = flags.iloc[0]
    assert (flag["session"], round(flag["magnitude"], 6), flag["repair_status"]) == (
        session,
        magnitude,
        status,
    )
    assert f"> {flag['explanation']}\n" in DOC


def test_lenient_example_in_doc():
    flags = detect(
        frame(series([4.2, 4.4, 4.0, 4.3, 3.5])),
        only("below_baseline", norms=NORMS, params={"k": 1.0}),
    )
    assert round(flags["magnitude"].iloc[0], 6) == 0.725


def test_cancelled_session_example_in_doc():
    """Section "Worked example: a cancelled session between held ones"."""
    scores = numbered(frame(series([4.2, 4.4, 4.5, 3.2, 3.4, 3.3])), [1, 2, 3, 5, 6, 7])
    flags = detect(scores, {"norms": NORMS})
    assert list(flags["rule"]) == ["reliable_drop", "sudden_loss"]
    assert list(flags["session"]) == [4, 4]
    assert list(flags["repair_status"]) == ["pending", "pending"]
    for explanation in flags["explanation"]:
        assert f"> {explanation}\n" in DOC
    # By session number, session 4 is a gap and nothing is flagged.
    by_number = frame(series([4.2, 4.4, 4.5, None, 3.2, 3.4, 3.3]))
    assert detect(by_number, {"norms": NORMS}).empty
