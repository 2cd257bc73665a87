"""The rupture and signal rules, each declared once: key, parameters with defaults and bounds,
docs anchor, and how its flags group into episodes.

Pure (no Django): ``config`` derives ``DEFAULTS``, ``BOUNDS`` and ``RULE_NAMES`` from
``RULES``, ``episodes`` its rupture and run rules. The Django side (``alliance.flags.rules``)
adds each rule's label and description keyed by the same ``key``; the model's choices, the
rules form and the dashboards read both.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

# Episode kinds (``episodes.group_episodes``): every rupture-type flag of one client at one
# position is one rupture; a ceiling run and a missing-forms run are their own kinds.
RUPTURE = "rupture"
CEILING = "ceiling"
MISSING_FORMS = "missing_forms"

# What a rule compares a score with: the score before ("adjacent"), the client's earlier
# mean ("baseline") or a configured cutoff ("cutoff"); None for rules that read no drop.
DropType = Literal["adjacent", "baseline", "cutoff"]


@dataclass(frozen=True)
class Bound:
    """The clinically sensible range of a parameter: low (exclusive when ``low_open``) to high."""

    low: float
    high: float
    low_open: bool = False
    whole: bool = False  # a count of sessions


# Ranges, shared by name (a name means the same thing in every rule that has it).
# Windows count held sessions: a drop not back within 20 sessions is no longer "repaired",
# and 20 sessions at the maximum or without a form is long past the point of flagging.
REPAIR_WINDOW = Bound(1, 20, whole=True)
MIN_PRIOR = Bound(2, 20, whole=True)
SESSIONS = Bound(1, 20, whole=True)
# Stiles et al. use k = 1 (lenient) or 2 (strict); beyond 5 SD nothing is ever flagged.
K = Bound(0.0, 5.0, low_open=True)
# Points on an instrument's scale: no alliance instrument spans more than 100 points.
CUTOFF = Bound(0.0, 100.0, low_open=True)
PCT = Bound(0.0, 1.0)
ALPHA = Bound(0.0, 0.2, low_open=True)
# Standard deviations of the scale.
THRESHOLD = Bound(0.0, 5.0, low_open=True)
# A low-alliance cutoff is a score, on the same scales as "cutoff".
CUTOFFS = Bound(-100.0, 100.0)


@dataclass(frozen=True)
class Rule:
    """One rule. ``defaults`` holds every parameter (``enabled`` first) with its documented
    default; ``bounds`` the range of each numeric one; ``docs_anchor`` the rule's heading in
    docs/ruptures.md; ``episode_kind`` and ``continues_run`` how ``group_episodes`` groups
    its flags; ``drop_type`` what a flagged score is compared with."""

    key: str
    defaults: dict[str, Any]
    bounds: dict[str, Bound] = field(default_factory=dict)
    episode_kind: str = RUPTURE
    # A state that can last: the same rule on the same rater and scale at the next position
    # continues the episode instead of starting one.
    continues_run: bool = False
    drop_type: DropType | None = None

    @property
    def docs_anchor(self) -> str:
        """The heading ``### <key>`` of docs/ruptures.md, as a link fragment."""
        return f"#{self.key}"


# Repair is judged over the next few sessions (Eubanks, Muran & Safran 2018).
_REPAIR_WINDOW = 3

# In the order the rules page and the engine take them. Every rule is on by default:
# a clinic switches off what it does not want. Drops are read on the total only by default:
# 2-item subscales are too noisy for reliable change (RC nearly one scale point), and
# flagging them floods the caseload.
RULES: tuple[Rule, ...] = (
    Rule(
        "reliable_drop",
        {"enabled": True, "scales": ["total"], "repair_window": _REPAIR_WINDOW},
        {"repair_window": REPAIR_WINDOW},
        drop_type="adjacent",
    ),
    Rule(
        "below_baseline",
        {
            "enabled": True,
            "scales": ["total"],
            # 2 = strict, 1 = lenient (Stiles et al. 2004; Strauss et al. 2006; Gumz et al. 2012).
            "k": 2.0,
            # Fewer than 3 earlier scores give no usable baseline mean and SD.
            "min_prior": 3,
            "repair_window": _REPAIR_WINDOW,
        },
        {"k": K, "min_prior": MIN_PRIOR, "repair_window": REPAIR_WINDOW},
        continues_run=True,
        drop_type="baseline",
    ),
    Rule(
        "sudden_loss",
        {
            "enabled": True,
            "scales": ["total"],
            # None = the series' reliable-change threshold, as in Lutz et al. (2013).
            "cutoff": None,
            # The drop must be at least 25% of the pre-drop score (Tang & DeRubeis 1999).
            "pct": 0.25,
            # Two-tailed t test of pre vs post means at .05 (Tang & DeRubeis 1999).
            "alpha": 0.05,
            "repair_window": _REPAIR_WINDOW,
        },
        {"cutoff": CUTOFF, "pct": PCT, "alpha": ALPHA, "repair_window": REPAIR_WINDOW},
        drop_type="adjacent",
    ),
    Rule(
        "low_alliance",
        # On, but it flags nothing until a cutoff is configured for a rater and scale:
        # {rater: {scale: cutoff}}, empty because alliance measures have no universal cutoff.
        {"enabled": True, "cutoffs": {}},
        {"cutoffs": CUTOFFS},
        continues_run=True,
        drop_type="cutoff",
    ),
    Rule(
        "rater_discrepancy",
        {
            "enabled": True,
            # One SD is well beyond the usual client-over-therapist gap of d = .63
            # (Tryon et al. 2007).
            "threshold": 1.0,
            # A therapist rating higher than the client is the gap that hides ruptures.
            "direction": "therapist_higher",
            # The total is the most reliable scale; subscales of 2 items are noisy.
            "scales": ["total"],
        },
        {"threshold": THRESHOLD},
        continues_run=True,
    ),
    Rule("client_reported_tension", {"enabled": True}),
    Rule(
        "ceiling",
        # Three sessions at the maximum is a pattern, not a single polite rating.
        {"enabled": True, "sessions": 3},
        {"sessions": SESSIONS},
        episode_kind=CEILING,
    ),
    Rule(
        "missing_forms",
        # Three completed sessions without a client form leave the alliance unmonitored.
        {"enabled": True, "sessions": 3},
        {"sessions": SESSIONS},
        episode_kind=MISSING_FORMS,
    ),
)

RULES_BY_KEY: dict[str, Rule] = {rule.key: rule for rule in RULES}


def _bounds_by_name() -> dict[str, Bound]:
    """Every parameter's range by name; a name bound two ways would be a declaration error."""
    bounds: dict[str, Bound] = {}
    for rule in RULES:
        for name, bound in rule.bounds.items():
            if name not in rule.defaults:
                raise ValueError(f"{rule.key}: bound for unknown parameter {name}")
            if bounds.setdefault(name, bound) != bound:
                raise ValueError(f"{rule.key}.{name}: bounded unlike in another rule")
    return bounds


PARAMETER_BOUNDS = _bounds_by_name()
