"""The client's session-end form, built from the instrument definition in one language."""

from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from measures.definitions import InstrumentDefinition, Number, ResponseScale, format_number

# Above this many steps a radio group stops being usable; a number box is used instead.
MAX_RADIO_STEPS = 11


def _number(value: str) -> Number:
    number = float(value)
    return int(number) if number.is_integer() else number


def _scale_field(response: ResponseScale, language: str, *, label: str, required: bool):
    errors = {
        "required": _("Please choose an answer."),
        "invalid_choice": _("Please choose one of the answers shown."),
    }
    if len(response.values) > MAX_RADIO_STEPS:
        return forms.FloatField(
            label=label,
            required=required,
            min_value=response.min,
            max_value=response.max,
            step_size=response.step,
            error_messages={"required": errors["required"]},
            widget=forms.NumberInput(attrs={"inputmode": "decimal"}),
        )
    return forms.TypedChoiceField(
        label=label,
        required=required,
        choices=[(format_number(value), text) for value, text in response.choices(language)],
        coerce=_number,
        empty_value=None,
        widget=forms.RadioSelect,
        error_messages=errors,
    )


@dataclass(frozen=True)
class Block:
    """One question on the page, in order: what the template needs to draw it."""

    field: forms.BoundField
    kind: str  # "item", "yes_no", "scale" (an optional rating) or "text"
    number: int | None = None  # items are numbered 1..n
    shown_if: str | None = None

    @property
    def is_choice(self) -> bool:
        return isinstance(self.field.field, forms.ChoiceField)


class ClientSessionForm(forms.Form):
    """Every item of the instrument (required), then its optional questions.

    Field names are the definition's item and question keys, so errors from
    measures.services.rating_record map straight onto fields.
    """

    def __init__(self, *args, definition: InstrumentDefinition, language: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.definition = definition
        self.language = language
        self.item_keys = [item.key for item in definition.items]
        for item, text in definition.items_for(language):
            self.fields[item.key] = _scale_field(item.response, language, label=text, required=True)
        for question in definition.questions:
            label = question.text[language]
            if question.type == "yes_no":
                self.fields[question.key] = forms.ChoiceField(
                    label=label,
                    required=False,
                    choices=[
                        (answer, question.labels[answer][language]) for answer in ("yes", "no")
                    ],
                    widget=forms.RadioSelect,
                    error_messages={"invalid_choice": _("Please answer yes or no.")},
                )
            elif question.type == "likert":
                self.fields[question.key] = _scale_field(
                    question.response, language, label=label, required=False
                )
            else:
                self.fields[question.key] = forms.CharField(
                    label=label,
                    required=False,
                    max_length=question.max_length,
                    widget=forms.Textarea(attrs={"rows": 4}),
                    error_messages={
                        "max_length": _(
                            "Please keep this to %(limit_value)d characters or fewer "
                            "(it has %(show_value)d)."
                        )
                    },
                )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # A follow-up question (how well a tension was handled) only counts after a "yes";
        # without JavaScript it is always on the page, so anything else is ignored.
        for question in self.definition.questions:
            if question.shown_if and cleaned.get(question.shown_if) != "yes":
                self.errors.pop(question.key, None)
                cleaned[question.key] = None
        return cleaned

    def blocks(self) -> list[Block]:
        blocks = [
            Block(field=self[key], kind="item", number=position)
            for position, key in enumerate(self.item_keys, start=1)
        ]
        for question in self.definition.questions:
            kind = {"yes_no": "yes_no", "likert": "scale"}.get(question.type, "text")
            blocks.append(Block(field=self[question.key], kind=kind, shown_if=question.shown_if))
        return blocks

    def answered_count(self) -> int:
        """How many items have an answer in the data (or the initial values) shown."""
        source = self.data if self.is_bound else self.initial
        return sum(1 for key in self.item_keys if str(source.get(key) or "").strip())

    def answers(self) -> dict[str, Number | None]:
        return {key: self.cleaned_data.get(key) for key in self.item_keys}

    def questions(self) -> dict[str, Any]:
        return {
            question.key: self.cleaned_data.get(question.key)
            for question in self.definition.questions
        }

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Show ValidationError messages from rating_record on their fields."""
        for key, messages in errors.items():
            for message in messages:
                self.add_error(key if key in self.fields else None, message)
