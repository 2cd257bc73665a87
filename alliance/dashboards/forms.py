"""The dashboards' GET filters: bad input is ignored with a message, never an error page."""

import datetime as dt

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alliance.dashboards import Period

# Longest period a page aggregates: enough for any supervision question, bounded work.
MAX_PERIOD_DAYS = 366 * 5


class PeriodForm(forms.Form):
    """``from`` and ``to`` dates (YYYY-MM-DD, inclusive); either may be left out."""

    start = forms.DateField(label=gettext_lazy("From"), required=False, input_formats=["%Y-%m-%d"])
    end = forms.DateField(label=gettext_lazy("To"), required=False, input_formats=["%Y-%m-%d"])

    def __init__(self, data, *, today: dt.date, default: Period, **kwargs):
        # The query string says from/to; "from" is a Python keyword, hence the prefix-free map.
        data = {"start": data.get("from", ""), "end": data.get("to", ""), **_rest(data)}
        super().__init__(data, **kwargs)
        self.today = today
        self.default = default

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if end and end > self.today + dt.timedelta(days=366):
            self.add_error("end", _("Choose a date no more than a year ahead."))
            end = cleaned["end"] = None
        if start and end and start > end:
            self.add_error("start", _("The start date is after the end date."))
            cleaned["start"] = None
        elif start and (end or self.today) - start > dt.timedelta(days=MAX_PERIOD_DAYS):
            self.add_error("start", _("Choose a period of at most five years."))
            cleaned["start"] = None
        return cleaned

    def period(self) -> Period:
        """The period asked for, the valid parts of it, else the default."""
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        end = cleaned.get("end") if "end" not in self.errors else None
        start = cleaned.get("start") if "start" not in self.errors else None
        end = end or self.default.end
        if start is None:
            length = self.default.end - self.default.start
            start = end - length
        if start > end:
            start = end
        return Period(start=start, end=end, tz=self.default.tz)

    def ignored(self) -> list[str]:
        """One message per ignored value, for the page to show."""
        names = {"start": _("From"), "end": _("To"), "therapist": _("Therapist")}
        return [
            _("%(field)s ignored: %(error)s") % {"field": names.get(name, name), "error": error}
            for name, errors in self.errors.items()
            for error in errors
        ]


def _rest(data) -> dict:
    return {key: data.get(key) for key in data if key not in ("from", "to", "start", "end")}


class SupervisionFilterForm(PeriodForm):
    """The supervision dashboard: one supervisee, and the period."""

    therapist = forms.TypedChoiceField(
        label=gettext_lazy("Therapist"), required=False, coerce=int, empty_value=None
    )

    def __init__(self, data, *, therapists, **kwargs):
        super().__init__(data, **kwargs)
        self.therapists = list(therapists)
        self.fields["therapist"].choices = [("", _("All supervisees"))] + [
            (t.pk, str(t)) for t in self.therapists
        ]

    def chosen_therapists(self) -> list:
        """The therapist asked for if valid, else every supervisee."""
        self.is_valid()
        chosen = getattr(self, "cleaned_data", {}).get("therapist")
        if chosen and "therapist" not in self.errors:
            return [t for t in self.therapists if t.pk == chosen]
        return self.therapists
