"""A person's own settings: email alerts and language."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from alliance.models import User


class UserSettingsForm(forms.Form):
    alert_email = forms.ChoiceField(
        label=_("Email me about new alerts"),
        choices=User.AlertEmail.choices,
        widget=forms.RadioSelect,
        help_text=_(
            "Alerts say that a client of yours may need a look, never who or why: the "
            "details are in Alliance. Supervisors also get a weekly summary of their queue "
            "unless they choose no emails."
        ),
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        help_text=_("The language of the emails Alliance sends you, and of its pages."),
    )
