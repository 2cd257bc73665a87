import django_filters

from alliance.api.filters import IntegerFilter, clients_in_scope, therapists_in_clinic
from sessions.models import TherapySession


class TherapySessionFilter(django_filters.FilterSet):
    client = django_filters.ModelChoiceFilter(queryset=clients_in_scope, help_text="Client id.")
    therapist = django_filters.ModelChoiceFilter(
        queryset=therapists_in_clinic, help_text="Therapist's user id."
    )
    number = IntegerFilter(min_value=1, help_text="Session number in the client's course.")
    starts_from = django_filters.DateFilter(
        field_name="starts_at",
        lookup_expr="date__gte",
        help_text="Sessions on or after this date (clinic time).",
    )
    starts_to = django_filters.DateFilter(
        field_name="starts_at",
        lookup_expr="date__lte",
        help_text="Sessions on or before this date (clinic time).",
    )

    class Meta:
        model = TherapySession
        fields = ["client", "therapist", "status", "number", "starts_from", "starts_to"]
