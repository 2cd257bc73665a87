"""One rule registry: the model's choices, the config, the rules form, the episode grouping
and the docs all come from alliance.analytics.registry (words from alliance.flags.rules)."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from alliance.analytics import BOUNDS, DEFAULTS, RULE_NAMES, RULES, validate_config
from alliance.analytics.episodes import RUN_RULES, RUPTURE_RULES
from alliance.analytics.rules import RULES as RULE_FUNCTIONS
from alliance.flags.forms import RuleSettingsForm
from alliance.flags.rules import TEXT, rule_docs, rule_label
from alliance.models import Flag

DOC = (Path(__file__).resolve().parents[2] / "docs" / "ruptures.md").read_text()
KEYS = [rule.key for rule in RULES]


def test_the_model_choices_are_the_registry_in_order_with_its_labels():
    assert Flag.Rule.values == KEYS
    assert [str(label) for label in Flag.Rule.labels] == [str(rule_label(k)) for k in KEYS]
    assert Flag.Rule.RELIABLE_DROP == "reliable_drop"
    assert set(TEXT) == set(KEYS), "every rule has its own label and description"


def test_the_config_is_derived_from_the_registry():
    assert tuple(KEYS) == RULE_NAMES
    assert set(RULE_FUNCTIONS) == set(KEYS)
    for rule in RULES:
        assert DEFAULTS[rule.key] == rule.defaults
        assert next(iter(rule.defaults)) == "enabled"
        for name, bound in rule.bounds.items():
            assert BOUNDS[name] == bound
    assert validate_config(None)["sudden_loss"] == RULES[2].defaults


def test_episode_grouping_is_derived_from_the_registry():
    assert set(RUPTURE_RULES) == {r.key for r in RULES if r.episode_kind == "rupture"}
    assert set(RUN_RULES) == {"below_baseline", "low_alliance", "rater_discrepancy"}


@pytest.mark.parametrize("rule", RULES, ids=KEYS)
def test_every_rule_has_its_docs_heading(rule):
    assert rule.docs_anchor == f"#{rule.key}"
    # GitHub's anchor of "### reliable_drop" is "#reliable_drop".
    assert re.search(rf"^### {re.escape(rule.key)}$", DOC, re.M)
    assert rule_docs(rule.key) == f"docs/ruptures.md#{rule.key}"


def test_the_rules_form_follows_the_registry():
    form = RuleSettingsForm(current={}, scales={"client": ["total"], "therapist": ["total"]})
    groups = form.rule_groups()
    assert [group["rule"] for group in groups] == KEYS
    for group, rule in zip(groups, RULES, strict=True):
        assert group["label"] == rule_label(rule.key)
        assert group["docs"] == rule_docs(rule.key)
        for name, bound in rule.bounds.items():
            field = (
                f"{rule.key}-{name}" if name != "cutoffs" else f"{rule.key}-cutoffs-client-total"
            )
            attrs = form.fields[field].widget.attrs
            assert (attrs["min"], attrs["max"]) == (f"{bound.low:g}", f"{bound.high:g}")


@pytest.mark.django_db
def test_the_rules_page_names_each_rules_docs_heading(client, clinic_admin, instruments):
    client.force_login(clinic_admin)
    html = client.get(reverse("clinic_rules")).content.decode()
    for key in KEYS:
        assert f"docs/ruptures.md#{key}" in html
