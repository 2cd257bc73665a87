"""Forms for the clinician pages. They validate input; services apply the rules."""

from django import forms
from django.core.exceptions import ValidationError


def add_validation_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: next to its field where it names one."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)
