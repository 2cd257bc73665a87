"""Forms for the clinic admin's pages. They validate input; services apply the rules."""

from django import forms
from django.conf import settings
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from alliance.models import User


class RolesForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email (optional)"), required=False)
    is_therapist = forms.BooleanField(label=_("Therapist"), required=False)
    is_supervisor = forms.BooleanField(label=_("Supervisor"), required=False)
    is_clinic_admin = forms.BooleanField(label=_("Clinic admin"), required=False)


class UserCreateForm(RolesForm):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        help_text=_("What they type to log in. Letters, digits and @ . + - _ only."),
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        required=False,  # not given: the language of the page that adds them
        help_text=_(
            "Of their invitation and of the emails Alliance sends them; they can change it."
        ),
    )
    field_order = ["username", "first_name", "last_name", "email", "language"]

    def clean_language(self) -> str:
        return self.cleaned_data["language"] or get_language()


class SupervisionForm(forms.Form):
    supervisor = forms.ModelChoiceField(label=_("Supervisor"), queryset=None)
    therapist = forms.ModelChoiceField(label=_("Supervises"), queryset=None)

    def __init__(self, *args, clinic_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        people = User.objects.filter(clinic_id=clinic_id, is_active=True).order_by(
            "last_name", "first_name", "username"
        )
        self.fields["supervisor"].queryset = people.filter(is_supervisor=True)
        self.fields["therapist"].queryset = people.filter(is_therapist=True)
