"""The rupture rules in a clinician's words: each rule's label and description, and the
wording of its parameters, keyed by the registry's keys (``alliance.analytics.registry``).

The one Django-side place for them: ``Flag.Rule`` takes its choices from here, and the rules
form, the episode evidence and the dashboards read the labels here. A rule added to the
registry without words of its own gets a plain label from its key.
"""

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from alliance.analytics.registry import RULES, RULES_BY_KEY

# The file that documents every rule under a heading ``### <key>`` (not served by the app).
DOCS_FILE = "docs/ruptures.md"


@dataclass(frozen=True)
class RuleText:
    label: Promise
    # What the rule looks for (docs/ruptures.md has the definitions).
    description: Promise
    # (label, help) where a shared parameter name means something more specific here.
    parameters: dict[str, tuple[Promise, Promise]] | None = None


TEXT: dict[str, RuleText] = {
    "reliable_drop": RuleText(
        _("Reliable drop"),
        _(
            "A score falls from one session to the next by more than measurement error "
            "explains (the reliable-change threshold from the norms; Jacobson & Truax 1991)."
        ),
    ),
    "below_baseline": RuleText(
        _("Below the client's baseline"),
        _(
            "A score falls well below the client's own earlier level: more than k standard "
            "deviations under the mean of their earlier sessions (Stiles et al. 2004)."
        ),
    ),
    "sudden_loss": RuleText(
        _("Sudden loss"),
        _(
            "A large drop between two sessions that stays down over the next sessions: the "
            "three sudden-loss criteria of Tang & DeRubeis (1999) and Lutz et al. (2013)."
        ),
    ),
    "low_alliance": RuleText(
        _("Low alliance"),
        _(
            "A score below a cutoff you set. Alliance measures have no universal cutoff, so "
            "this rule flags nothing until you enter one."
        ),
    ),
    "rater_discrepancy": RuleText(
        _("Client and therapist disagree"),
        _(
            "In the same session the therapist rates the alliance clearly higher than the "
            "client does: the gap that most often hides a rupture (Tryon et al. 2007)."
        ),
    ),
    "client_reported_tension": RuleText(
        _("Client reported tension"),
        _(
            "The client answered yes to “Was there tension or a misunderstanding today?” "
            "(Muran et al. 2009)."
        ),
    ),
    "ceiling": RuleText(
        _("Ratings at the ceiling"),
        _(
            "The client gives the highest possible rating in each of the first sessions. "
            "Perfect early ratings can hide dissatisfaction: invite honest feedback."
        ),
        {
            "sessions": (
                _("First sessions at the maximum"),
                _(
                    "Flag when the client rates at the maximum in every one of this many "
                    "first sessions."
                ),
            ),
        },
    ),
    "missing_forms": RuleText(
        _("Client forms missing"),
        _("No client form at several completed sessions in a row: the alliance goes unmonitored."),
        {
            "sessions": (
                _("Sessions without a client form"),
                _("Flag when this many completed sessions in a row have no client form."),
            ),
        },
    ),
}

# (label, help) per parameter name, shared by the rules that have it; the form adds the
# default to the help text.
PARAMETER_TEXT: dict[str, tuple[Promise, Promise]] = {
    "repair_window": (
        _("Repair window (sessions)"),
        _(
            "How many sessions after the drop the score may take to come back to its earlier "
            "level and count as repaired."
        ),
    ),
    "k": (
        _("Strictness k (standard deviations)"),
        _("2 is the strict criterion, 1 the lenient one: a lower k flags smaller dips."),
    ),
    "min_prior": (
        _("Earlier scores needed"),
        _("The client's baseline needs at least this many earlier scores (2 or more)."),
    ),
    "cutoff": (
        _("Smallest drop (points)"),
        _("Leave empty to use the reliable-change threshold from the norms."),
    ),
    "pct": (
        _("Smallest drop as a share of the score"),
        _("0.25: the drop must be at least 25% of the score before it."),
    ),
    "alpha": (
        _("Significance level"),
        _("Of the before-and-after t test, above 0 and at most 0.2. Lower flags fewer drops."),
    ),
    "threshold": (
        _("Gap (standard deviations)"),
        _("How far apart the two ratings must be, in standard deviations of the scale."),
    ),
    "direction": (
        _("Which gap"),
        _("The therapist-higher gap is the one that hides ruptures."),
    ),
    "scales": (
        _("Scales compared"),
        _("The total is the most reliable; two-item subscales are noisy."),
    ),
    "sessions": (_("Sessions"), _("How many sessions in a row.")),
    "cutoffs": (
        _("Cutoffs"),
        _("Flag a score below this value. Leave empty for no cutoff."),
    ),
}

# The choices of parameters that take one of a few values.
PARAMETER_CHOICES: dict[tuple[str, str], list[tuple[str, Promise]]] = {
    ("rater_discrepancy", "direction"): [
        ("therapist_higher", _("Therapist higher only")),
        ("both", _("Either direction")),
    ],
}


def rule_label(key: str) -> Any:
    """The rule's name (lazy), or its key in plain words for a rule without words yet."""
    text = TEXT.get(key)
    return text.label if text else key.replace("_", " ")


def rule_description(key: str) -> Any:
    text = TEXT.get(key)
    return text.description if text else ""


def parameter_text(key: str, parameter: str) -> tuple[Any, Any]:
    """(label, help) of one parameter of one rule."""
    text = TEXT.get(key)
    if text and text.parameters and parameter in text.parameters:
        return text.parameters[parameter]
    return PARAMETER_TEXT.get(parameter, (parameter.replace("_", " "), ""))


def rule_docs(key: str) -> str:
    """Where the rule is defined: "docs/ruptures.md#reliable_drop"."""
    return DOCS_FILE + RULES_BY_KEY[key].docs_anchor


def rule_choices() -> list[tuple[str, tuple[str, Any]]]:
    """``Flag.Rule``'s members in registry order: (NAME, (key, label))."""
    return [(rule.key.upper(), (rule.key, rule_label(rule.key))) for rule in RULES]
