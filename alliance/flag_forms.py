"""Forms for the flag workflow and the clinic's rupture-rule settings.

They check input; the services in alliance.services apply the rules. The rule-settings form
is generated from alliance.analytics.DEFAULTS, so a new rule or parameter gets a field
without changing this module (with a plain label until it gets words of its own here).
"""

from typing import Any

from django import forms
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from alliance.analytics import BOUNDS, DEFAULTS, validate_config
from alliance.models import Episode, Flag
from alliance.services import COMMENT_MAX_LENGTH

# What each rule looks for, in a clinician's words (docs/ruptures.md has the definitions).
RULE_DESCRIPTIONS = {
    "reliable_drop": _(
        "A score falls from one session to the next by more than measurement error explains "
        "(the reliable-change threshold from the norms; Jacobson & Truax 1991)."
    ),
    "below_baseline": _(
        "A score falls well below the client's own earlier level: more than k standard "
        "deviations under the mean of their earlier sessions (Stiles et al. 2004)."
    ),
    "sudden_loss": _(
        "A large drop between two sessions that stays down over the next sessions: the three "
        "sudden-loss criteria of Tang & DeRubeis (1999) and Lutz et al. (2013)."
    ),
    "low_alliance": _(
        "A score below a cutoff you set. Alliance measures have no universal cutoff, so this "
        "rule flags nothing until you enter one."
    ),
    "rater_discrepancy": _(
        "In the same session the therapist rates the alliance clearly higher than the client "
        "does: the gap that most often hides a rupture (Tryon et al. 2007)."
    ),
    "client_reported_tension": _(
        "The client answered yes to “Was there tension or a misunderstanding today?” "
        "(Muran et al. 2009)."
    ),
    "ceiling": _(
        "The client gives the highest possible rating in each of the first sessions. Perfect "
        "early ratings can hide dissatisfaction: invite honest feedback."
    ),
    "missing_forms": _(
        "No client form at several completed sessions in a row: the alliance goes unmonitored."
    ),
}

# (label, help) per parameter; the default is added to the help text.
PARAMETER_TEXT = {
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
# Per-rule wording where a shared parameter name means something more specific.
RULE_PARAMETER_TEXT = {
    ("ceiling", "sessions"): (
        _("First sessions at the maximum"),
        _("Flag when the client rates at the maximum in every one of this many first sessions."),
    ),
    ("missing_forms", "sessions"): (
        _("Sessions without a client form"),
        _("Flag when this many completed sessions in a row have no client form."),
    ),
}
CHOICES = {
    ("rater_discrepancy", "direction"): [
        ("therapist_higher", _("Therapist higher only")),
        ("both", _("Either direction")),
    ],
}
RATER_LABELS = {"client": _("Client"), "therapist": _("Therapist")}


def _field_name(rule: str, parameter: str, *rest: str) -> str:
    return "-".join((rule, parameter, *rest))


def _shown(value: Any) -> str:
    """A default as the help text shows it."""
    if value is None:
        return str(_("empty"))
    if isinstance(value, bool):
        return str(_("on") if value else _("off"))
    if isinstance(value, list | tuple):
        return ", ".join(value) or str(_("none"))
    if isinstance(value, dict):
        return str(_("none")) if not value else str(value)
    return str(value)


class RuleSettingsForm(forms.Form):
    """A checkbox per rule and a typed field per parameter, generated from DEFAULTS.

    ``current``: the clinic's settings merged over the defaults (the initial values);
    ``scales``: {rater: [scale keys]} of the clinic's instruments (for the scale choices
    and the per-scale cutoffs). Every value is checked by ``validate_config`` one parameter
    at a time, so each error shows next to its own field.
    """

    def __init__(self, *args, current: dict, scales: dict[str, list[str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.scales = scales
        self.groups: list[dict] = []
        all_scales = sorted({scale for keys in scales.values() for scale in keys}, key=_scale_order)
        for rule, defaults in DEFAULTS.items():
            names = []
            for parameter, default in defaults.items():
                value = current.get(rule, {}).get(parameter, default)
                if parameter == "cutoffs":
                    names += self._add_cutoffs(rule, value)
                    continue
                name = _field_name(rule, parameter)
                self.fields[name] = self._field(rule, parameter, default, all_scales)
                self.initial[name] = value
                names.append(name)
            self.groups.append(
                {
                    "rule": rule,
                    "label": _rule_label(rule),
                    "description": RULE_DESCRIPTIONS.get(rule, ""),
                    "names": names,
                }
            )

    def _field(self, rule: str, parameter: str, default: Any, all_scales: list[str]):
        label, help_text = RULE_PARAMETER_TEXT.get(
            (rule, parameter), PARAMETER_TEXT.get(parameter, (parameter.replace("_", " "), ""))
        )
        shown_default = _shown(default)
        if parameter == "enabled":
            return forms.BooleanField(
                label=_rule_label(rule),
                required=False,
                help_text=_("%(description)s Default: %(d)s.")
                % {"description": RULE_DESCRIPTIONS.get(rule, ""), "d": shown_default},
            )
        if (rule, parameter) in CHOICES:
            shown_default = dict(CHOICES[(rule, parameter)]).get(default, shown_default)
        help_text = _("%(help)s Default: %(d)s.") % {"help": help_text, "d": shown_default}
        if (rule, parameter) in CHOICES:
            return forms.ChoiceField(
                label=label, help_text=help_text, choices=CHOICES[(rule, parameter)]
            )
        if isinstance(default, list):
            return forms.MultipleChoiceField(
                label=label,
                help_text=help_text,
                required=False,
                choices=[(scale, scale) for scale in all_scales],
                widget=forms.CheckboxSelectMultiple,
            )
        if isinstance(default, bool):
            return forms.BooleanField(label=label, help_text=help_text, required=False)
        if isinstance(default, int):
            return forms.IntegerField(
                label=label, help_text=help_text, widget=_range_input(parameter)
            )
        if default is None or isinstance(default, float):
            return forms.FloatField(
                label=label,
                help_text=help_text,
                required=default is not None,
                widget=_range_input(parameter, step="any"),
            )
        return forms.CharField(label=label, help_text=help_text)

    def _add_cutoffs(self, rule: str, value: dict) -> list[str]:
        names = []
        for rater, keys in self.scales.items():
            for scale in sorted(keys, key=_scale_order):
                name = _field_name(rule, "cutoffs", rater, scale)
                self.fields[name] = forms.FloatField(
                    label=_("%(rater)s %(scale)s below")
                    % {"rater": RATER_LABELS.get(rater, rater), "scale": scale},
                    required=False,
                    widget=_range_input("cutoffs", step="any"),
                    help_text=_("Empty: no cutoff. Default: empty."),
                )
                self.initial[name] = value.get(rater, {}).get(scale)
                names.append(name)
        return names

    def rule_groups(self) -> list[dict]:
        """Each rule with its label, description and bound fields, for the template."""
        return [
            {**group, "fields": [self[name] for name in group["names"]]} for group in self.groups
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        for rule, defaults in DEFAULTS.items():
            for parameter in defaults:
                if parameter == "cutoffs":
                    self._check_cutoffs(rule, cleaned)
                    continue
                name = _field_name(rule, parameter)
                if name not in cleaned:
                    continue  # the field's own error (not a number, ...) is shown already
                self._check(name, rule, {parameter: cleaned[name]})
        return cleaned

    def _check_cutoffs(self, rule: str, cleaned: dict) -> None:
        for rater, keys in self.scales.items():
            for scale in keys:
                name = _field_name(rule, "cutoffs", rater, scale)
                if cleaned.get(name) is not None:
                    self._check(name, rule, {"cutoffs": {rater: {scale: cleaned[name]}}})

    def _check(self, name: str, rule: str, parameters: dict) -> None:
        try:
            validate_config({rule: parameters})
        except ValueError as exc:
            # "below_baseline.k must be a number > 0.0, got -1.0": the field names the key.
            message = str(exc)
            if " must " in message:
                message = "Must " + message.split(" must ", 1)[1]
            self.add_error(name, message)

    def rule_settings(self) -> dict:
        """The submitted settings as a rule config ({rule: {parameter: value}})."""
        settings: dict[str, dict] = {}
        for rule, defaults in DEFAULTS.items():
            params = {}
            for parameter in defaults:
                if parameter == "cutoffs":
                    params["cutoffs"] = self._cutoffs(rule)
                    continue
                params[parameter] = self.cleaned_data[_field_name(rule, parameter)]
            settings[rule] = params
        return settings

    def _cutoffs(self, rule: str) -> dict[str, dict[str, float]]:
        cutoffs: dict[str, dict[str, float]] = {}
        for rater, keys in self.scales.items():
            for scale in keys:
                value = self.cleaned_data.get(_field_name(rule, "cutoffs", rater, scale))
                if value is not None:
                    cutoffs.setdefault(rater, {})[scale] = value
        return cutoffs


def _range_input(parameter: str, **attrs) -> forms.NumberInput:
    """A number input carrying the parameter's range (min, max); validate_config checks it,
    so the error message is the same whatever the browser lets through."""
    bound = BOUNDS[parameter]
    return forms.NumberInput(attrs={"min": f"{bound.low:g}", "max": f"{bound.high:g}", **attrs})


def _rule_label(rule: str) -> str:
    return Flag.Rule(rule).label if rule in Flag.Rule.values else rule.replace("_", " ")


def _scale_order(scale: str) -> tuple[int, str]:
    """The total first, then the subscales alphabetically."""
    return (0 if scale == "total" else 1, scale)


class FlagAcknowledgeForm(forms.Form):
    action_note = forms.CharField(
        label=_("What did you do, or what will you do?"),
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For example: “Discussed the tension at the next session.”"),
    )
    action_session = forms.ModelChoiceField(
        label=_("At which session"),
        queryset=None,
        required=False,
        empty_label=_("Not at a session yet"),
    )
    rupture_type = forms.ChoiceField(
        label=_("Rupture markers (Safran & Muran)"),
        choices=[("", _("Not tagged")), *Episode.RuptureType.choices],
        required=False,
        help_text=_(
            "Withdrawal: the client moves away (silence, vague or deferential answers, "
            "changing the topic). Confrontation: the client moves against you (complaints, "
            "criticism, pushing back on the task or goals)."
        ),
    )
    repair_strategy = forms.ChoiceField(
        label=_("Repair strategy used"),
        choices=[("", _("Not tagged")), *Episode.RepairStrategy.choices],
        required=False,
    )

    def __init__(self, *args, episode: Episode, sessions, **kwargs):
        # The episode page holds this form and the resolve form: their ids must not collide.
        kwargs.setdefault("auto_id", "id_acknowledge_%s")
        initial = kwargs.setdefault("initial", {})
        if episode.status == Episode.Status.ACKNOWLEDGED:
            initial.update(
                action_note=episode.action_note,
                action_session=episode.action_session_id,
                rupture_type=episode.rupture_type,
                repair_strategy=episode.repair_strategy,
            )
        super().__init__(*args, **kwargs)
        self.fields["action_session"].queryset = sessions
        self.fields["action_session"].label_from_instance = _session_label


def _session_label(session) -> str:
    return _("Session %(number)d · %(date)s") % {
        "number": session.number,
        "date": date_format(localtime(session.starts_at), "j M Y"),
    }


class FlagResolveForm(forms.Form):
    note = forms.CharField(
        label=_("Closing note (optional)"),
        max_length=COMMENT_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Kept as your comment on the flag."),
    )

    def __init__(self, *args, **kwargs):
        # The episode page holds this form and the acknowledge form: their ids must not
        # collide.
        kwargs.setdefault("auto_id", "id_resolve_%s")
        super().__init__(*args, **kwargs)


class FlagCommentForm(forms.Form):
    text = forms.CharField(
        label=_("Comment"),
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
