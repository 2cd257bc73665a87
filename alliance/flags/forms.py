"""Forms for the flag workflow and the clinic's rupture-rule settings.

They check input; the services in alliance.flags.services apply the rules. The rule-settings form
is generated from the rule registry (alliance.analytics.DEFAULTS, BOUNDS), so a new rule or
parameter gets a field without changing this module; its words come from
alliance.flags.rules (a plain label until it gets words of its own there).
"""

from typing import Any

from django import forms
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from alliance.analytics import BOUNDS, DEFAULTS, validate_config
from alliance.flags.rules import (
    PARAMETER_CHOICES,
    parameter_text,
    rule_description,
    rule_docs,
    rule_label,
)
from alliance.flags.services import COMMENT_MAX_LENGTH
from alliance.models import Episode

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
                    "label": rule_label(rule),
                    "description": rule_description(rule),
                    "docs": rule_docs(rule),
                    "names": names,
                }
            )

    def _field(self, rule: str, parameter: str, default: Any, all_scales: list[str]):
        label, help_text = parameter_text(rule, parameter)
        shown_default = _shown(default)
        if parameter == "enabled":
            return forms.BooleanField(
                label=rule_label(rule),
                required=False,
                help_text=_("%(description)s Default: %(d)s.")
                % {"description": rule_description(rule), "d": shown_default},
            )
        if (rule, parameter) in PARAMETER_CHOICES:
            shown_default = dict(PARAMETER_CHOICES[(rule, parameter)]).get(default, shown_default)
        help_text = _("%(help)s Default: %(d)s.") % {"help": help_text, "d": shown_default}
        if (rule, parameter) in PARAMETER_CHOICES:
            return forms.ChoiceField(
                label=label, help_text=help_text, choices=PARAMETER_CHOICES[(rule, parameter)]
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
