"""Forms for the client pages. They validate input; services apply the rules."""

from django import forms
from django.utils.translation import gettext_lazy as _

from alliance.models import Client, User
from alliance.people.selectors import clinic_therapists


class CaseloadFilterForm(forms.Form):
    """The caseload's query string. Invalid values are ignored, never an error page."""

    q = forms.CharField(label=_("Client code"), max_length=32, required=False)
    sort = forms.CharField(max_length=32, required=False)
    discharged = forms.BooleanField(label=_("Include discharged clients"), required=False)

    def values(self) -> dict:
        cleaned = self.cleaned_data if self.is_valid() else {}
        return {
            "search": (cleaned.get("q") or "").strip(),
            "sort": cleaned.get("sort") or "",
            "include_discharged": bool(cleaned.get("discharged")),
        }


class ClientForm(forms.Form):
    code = forms.CharField(
        label=_("Client code"),
        max_length=32,
        help_text=_(
            "Pseudonymous: never a name. Keep the suggestion unless your clinic has its own."
        ),
    )
    display_name = forms.CharField(
        label=_("Initials (optional)"),
        max_length=40,
        required=False,
        help_text=_("Only what helps you recognise the client, e.g. “J.D.”."),
    )
    language = forms.ChoiceField(
        label=_("Language of the client's form"), choices=Client.Language.choices
    )
    show_scores_to_client = forms.BooleanField(
        label=_("Show the client their own scores after the form"), required=False
    )


class ClientCreateForm(ClientForm):
    """A new client. Clinic admins choose the primary therapist; therapists add their own."""

    primary_therapist = forms.ModelChoiceField(
        label=_("Primary therapist"), queryset=User.objects.none()
    )
    field_order = ["code", "display_name", "primary_therapist", "language"]

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        if user.is_clinic_admin:
            self.fields["primary_therapist"].queryset = clinic_therapists(user.clinic_id)
            if user.is_therapist:
                self.fields["primary_therapist"].initial = user.pk
        else:
            del self.fields["primary_therapist"]


class ClientEditForm(ClientForm):
    status = forms.ChoiceField(
        label=_("Status"),
        choices=Client.Status.choices,
        help_text=_("Discharging records today's date; the client's history is kept."),
    )
    field_order = ["code", "display_name", "language", "status"]


class ClientTransferForm(forms.Form):
    to_therapist = forms.ModelChoiceField(label=_("New primary therapist"), queryset=None)
    note = forms.CharField(
        label=_("Note (optional)"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Why, for the record. No clinical details."),
    )

    def __init__(self, *args, client: Client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_therapist"].queryset = clinic_therapists(client.clinic_id).exclude(
            pk=client.primary_therapist_id
        )


class ClientContactForm(forms.Form):
    """The client's email address for form-link reminders, stored with their consent."""

    address = forms.EmailField(label=_("Client's email address"), max_length=254)
    consent = forms.BooleanField(
        label=_(
            "The client agreed that the clinic stores this address and sends reminders of "
            "unused form links to it."
        ),
        error_messages={"required": _("Store the address only with the client's consent.")},
    )
    resume_reminders = forms.BooleanField(
        label=_("The client asked to get reminders again"), required=False
    )

    def __init__(self, *args, stopped: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not stopped:  # only a client who stopped reminders can ask for them again
            del self.fields["resume_reminders"]
