"""Query filters for the alliance app's endpoints, and ordering that refuses unknown fields.

Filters that name another object (a client, a therapist) choose among the objects in the
user's scope only: naming one outside it is a 400 like any other unknown value.
"""

import django_filters
from django import forms
from django.utils.encoding import force_str
from rest_framework import filters
from rest_framework.exceptions import ValidationError

from alliance.models import Client, Episode, Flag, User


class IntegerFilter(django_filters.NumberFilter):
    """A whole number within the database's range (NumberFilter takes decimals)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", 2**31 - 1)
        super().__init__(*args, **kwargs)


class StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise forms.ValidationError("Enter true or false.", code="invalid")


class BooleanFilter(django_filters.BooleanFilter):
    """true / false; anything else is a 400 (django-filter's own ignores it silently)."""

    field_class = StrictBooleanField


def clients_in_scope(request):
    return Client.objects.visible_to(request.user) if request else Client.objects.none()


def therapists_in_clinic(request):
    if request is None or not request.user.is_authenticated or not request.user.clinic_id:
        return User.objects.none()
    return User.objects.filter(clinic_id=request.user.clinic_id, is_therapist=True)


class ClientFilter(django_filters.FilterSet):
    therapist = django_filters.ModelChoiceFilter(
        field_name="primary_therapist",
        queryset=therapists_in_clinic,
        help_text="Primary therapist's user id.",
    )
    code = django_filters.CharFilter(
        field_name="code", lookup_expr="iexact", max_length=32, help_text="Exact client code."
    )
    code_contains = django_filters.CharFilter(
        field_name="code", lookup_expr="icontains", max_length=32
    )

    class Meta:
        model = Client
        fields = ["status", "therapist", "code", "code_contains", "language"]


def episodes_in_scope(request):
    return Episode.objects.visible_to(request.user) if request else Episode.objects.none()


class EpisodeFilter(django_filters.FilterSet):
    client = django_filters.ModelChoiceFilter(queryset=clients_in_scope, help_text="Client id.")
    retired = BooleanFilter(
        field_name="retired_at",
        lookup_expr="isnull",
        exclude=True,
        help_text="true: only retired episodes; false: only active ones. Absent: active ones.",
    )

    class Meta:
        model = Episode
        fields = ["status", "kind", "client", "repair_status", "retired"]


class FlagFilter(django_filters.FilterSet):
    client = django_filters.ModelChoiceFilter(queryset=clients_in_scope, help_text="Client id.")
    episode = django_filters.ModelChoiceFilter(
        queryset=episodes_in_scope, help_text="Episode id: the flags it holds."
    )
    retired = BooleanFilter(
        field_name="retired_at",
        lookup_expr="isnull",
        exclude=True,
        help_text="true: only retired flags; false: only active ones. Absent: active ones.",
    )
    status = django_filters.ChoiceFilter(
        field_name="episode__status",
        choices=Episode.Status.choices,
        help_text="The status of the flag's episode.",
    )

    class Meta:
        model = Flag
        fields = [
            "status",
            "rule",
            "client",
            "episode",
            "rater",
            "scale",
            "repair_status",
            "retired",
        ]


class StrictOrderingFilter(filters.OrderingFilter):
    """`?ordering=field,-other` over the view's explicit ``ordering_fields`` only.

    A view without ``ordering_fields`` offers no ordering parameter at all.
    """

    def get_valid_fields(self, queryset, view, context=None):
        return [(field, field) for field in getattr(view, "ordering_fields", None) or ()]

    def get_ordering(self, request, queryset, view):
        param = request.query_params.get(self.ordering_param, "")
        terms = [term.strip() for term in param.split(",")] if param.strip() else []
        if not terms:
            return self.get_default_ordering(view)
        valid = {field for field, _ in self.get_valid_fields(queryset, view)}
        unknown = [term for term in terms if term.removeprefix("-") not in valid]
        if unknown:
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Cannot order by {', '.join(repr(t) for t in unknown)}; choose from "
                        f"{', '.join(sorted(valid)) or 'nothing'} (prefix - for descending)."
                    ]
                }
            )
        # The default ordering breaks ties so pages are stable.
        return [*terms, *(self.get_default_ordering(view) or ())]

    def get_schema_operation_parameters(self, view):
        fields = [field for field, _ in self.get_valid_fields(None, view)]
        if not fields:
            return []
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": force_str(self.ordering_description)
                + " Comma-separated; prefix a field with - for descending order.",
                "style": "form",
                "explode": False,
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": [v for field in fields for v in (field, f"-{field}")],
                    },
                },
            }
        ]
