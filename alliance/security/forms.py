"""Forms for the two-factor pages, the clinic's security settings and the audit log filters."""

from django import forms
from django.utils.translation import gettext_lazy as _

from alliance.models import KIOSK_SESSION_DAYS_MAX, AccessEvent, Clinic, User


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].replace(" ", "")
        if not token.isdigit():
            raise forms.ValidationError(_("Enter the 6 digits the app shows."))
        return token


class ClinicSecurityForm(forms.ModelForm):
    class Meta:
        model = Clinic
        fields = [
            "require_two_factor",
            "retention_days",
            "kiosk_session_days",
            "client_contact_details",
        ]
        labels = {
            "client_contact_details": _(
                "Client contact details: store a client's email address, with consent, "
                "for form-link reminders"
            ),
            "require_two_factor": _("Require two-factor sign-in for everyone"),
            "retention_days": _("Keep a discharged client's record for (days)"),
            "kiosk_session_days": _("Tablet hand-over without confirming, up to (days ago)"),
        }
        widgets = {
            "kiosk_session_days": forms.NumberInput(
                attrs={"min": 0, "max": KIOSK_SESSION_DAYS_MAX}
            ),
        }


class AuditFilterForm(forms.Form):
    """Filters of the audit log page; invalid values are ignored, never an error page."""

    user = forms.ModelChoiceField(label=_("Person"), queryset=User.objects.none(), required=False)
    client = forms.CharField(label=_("Client code or id"), max_length=32, required=False)
    action = forms.ChoiceField(
        label=_("Action"), choices=[("", _("Any")), *AccessEvent.Action.choices], required=False
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, clinic_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = User.objects.filter(clinic_id=clinic_id).order_by(
            "last_name", "first_name", "username"
        )

    def values(self) -> dict:
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {name: cleaned.get(name) for name in self.fields if name not in self.errors} | {
            "client": cleaned.get("client") or "",
            "action": cleaned.get("action") or "",
        }
