import django_filters

from alliance.api.filters import BooleanFilter, clients_in_scope
from measures.models import Instrument, Rating


class InstrumentFilter(django_filters.FilterSet):
    is_active = BooleanFilter()

    class Meta:
        model = Instrument
        fields = ["key", "rater", "is_active"]


class RatingFilter(django_filters.FilterSet):
    client = django_filters.ModelChoiceFilter(
        field_name="session__client", queryset=clients_in_scope, help_text="Client id."
    )
    instrument = django_filters.ModelChoiceFilter(
        queryset=Instrument.objects.all(), help_text="Instrument id."
    )
    instrument_key = django_filters.CharFilter(
        field_name="instrument__key", max_length=64, help_text="Instrument key."
    )
    submitted_from = django_filters.DateFilter(
        field_name="submitted_at", lookup_expr="date__gte", help_text="On or after (clinic time)."
    )
    submitted_to = django_filters.DateFilter(
        field_name="submitted_at", lookup_expr="date__lte", help_text="On or before (clinic time)."
    )

    class Meta:
        model = Rating
        fields = [
            "client",
            "rater",
            "instrument",
            "instrument_key",
            "submitted_from",
            "submitted_to",
        ]
