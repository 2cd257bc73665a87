"""Forms for the therapist's session pages: schedule or record a session, rate it."""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from measures.definitions import InstrumentDefinition, format_number
from sessions.models import TherapySession

Status = TherapySession.Status

# <input type="datetime-local"> posts "2026-03-04T14:30"; read in the clinic's timezone.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


class LocalDateTimeField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_INPUT)
    input_formats = [LOCAL_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


class SessionEditForm(forms.Form):
    starts_at = LocalDateTimeField(
        label=_("Date and start time"), help_text=_("In the clinic's local time.")
    )
    note = forms.CharField(
        label=_("Note (optional)"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Short and practical, e.g. “online”. Not clinical notes."),
    )


class SessionRevisionForm(SessionEditForm):
    """The edit form: carries the revision it was opened at, so a stale save is refused."""

    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class SessionForm(SessionEditForm):
    status = forms.ChoiceField(
        label=_("The session is"),
        choices=[
            (Status.COMPLETED, _("Held (record it now)")),
            (Status.SCHEDULED, _("Scheduled (upcoming)")),
        ],
        widget=forms.RadioSelect,
        initial=Status.COMPLETED,
    )
    field_order = ["starts_at", "status", "note"]


class SessionStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)


class RatingForm(forms.Form):
    """One radio group per item of an instrument, plus its optional questions.

    Built from the instrument's definition, in the given language. The submission id is
    rendered with the form so a double submit stores one rating.
    """

    submission_id = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, definition: InstrumentDefinition, language: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.definition = definition
        self.language = language
        self.fields["submission_id"].initial = uuid.uuid4()
        for item, text in definition.items_for(language):
            self.fields[item.key] = forms.ChoiceField(
                label=text,
                choices=[(format_number(v), label) for v, label in item.response.choices(language)],
                widget=forms.RadioSelect,
                error_messages={"required": _("Choose an answer.")},
            )
        for question in definition.questions:
            self.fields[question.key] = self._question_field(question)

    def _question_field(self, question) -> forms.Field:
        text = question.text[self.language]
        if question.type == "text":
            return forms.CharField(
                label=text,
                required=False,
                max_length=question.max_length,
                widget=forms.Textarea(attrs={"rows": 3}),
            )
        if question.type == "yes_no":
            choices = [(answer, question.labels[answer][self.language]) for answer in ("yes", "no")]
        else:
            choices = [
                (format_number(v), label) for v, label in question.response.choices(self.language)
            ]
        return forms.ChoiceField(
            label=text, choices=choices, widget=forms.RadioSelect, required=False
        )

    @property
    def item_fields(self) -> list[forms.BoundField]:
        return [self[item.key] for item in self.definition.items]

    @property
    def question_fields(self) -> list[forms.BoundField]:
        return [self[question.key] for question in self.definition.questions]

    def answers(self) -> dict[str, str]:
        return {item.key: self.cleaned_data[item.key] for item in self.definition.items}

    def questions(self) -> dict[str, str]:
        return {q.key: self.cleaned_data.get(q.key) or None for q in self.definition.questions}

    def clean_submission_id(self) -> uuid.UUID:
        # A missing or mangled id only loses double-submit protection; it is no user error.
        try:
            return uuid.UUID(self.cleaned_data["submission_id"])
        except ValueError:
            return uuid.uuid4()


class RatingEditForm(RatingForm):
    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class FormLinkEmailForm(forms.Form):
    """Where to email the client's form link: used for that message and stored nowhere,
    unless the clinic stores client contact details and the therapist records the client's
    consent to store it (``store``; the field exists only then)."""

    address = forms.EmailField(label=_("Client's email address"), max_length=254)
    store = forms.BooleanField(
        label=_(
            "The client agreed that the clinic stores this address and sends reminders of "
            "unused form links to it"
        ),
        required=False,
    )

    def __init__(self, *args, contact_details: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not contact_details:
            del self.fields["store"]
