from django.contrib import admin
from django.core.exceptions import PermissionDenied

from measures.models import Instrument, ItemAnswer, Rating, RatingChange, ScaleScore


def is_autocomplete(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.view_name == "admin:autocomplete"


class ClinicalRecordAdmin:
    """Every clinical record's admin, in every app (the reason is in alliance.admin; it lives
    here because measures imports nothing from alliance). Read only: no add, change or
    delete, and no revert from django-simple-history's past versions (its form view would
    save a POST with view permission alone). Never offered in the admin's autocomplete, which
    would list records outside the audit log (Django serves it for any foreign key to a model
    whose admin has search_fields)."""

    def has_view_permission(self, request, obj=None) -> bool:
        return not is_autocomplete(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ["key", "version", "name", "rater", "is_active"]
    list_filter = ["rater", "is_active"]
    # Definitions change only through `manage.py load_instruments`, which validates them.
    readonly_fields = ["key", "version", "name", "rater", "definition"]

    def has_add_permission(self, request) -> bool:
        return False


class ItemAnswerInline(admin.TabularInline):
    model = ItemAnswer
    extra = 0
    can_delete = False
    readonly_fields = ["item", "value"]


class ScaleScoreInline(admin.TabularInline):
    model = ScaleScore
    extra = 0
    can_delete = False
    readonly_fields = ["scale", "score", "n_answered"]


class RatingChangeInline(admin.TabularInline):
    """A rating's history: every correction, by whom, the answers before and after."""

    model = RatingChange
    extra = 0
    can_delete = False
    readonly_fields = [
        "changed_by",
        "changed_at",
        "old_revision",
        "new_revision",
        "old_answers",
        "new_answers",
    ]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Rating)
class RatingAdmin(ClinicalRecordAdmin, admin.ModelAdmin):
    """Ratings change only through measures.services.rating_update, so scores always match
    answers and every correction is kept as a RatingChange."""

    list_display = ["session", "rater", "instrument", "submitted_at", "submitted_by"]
    list_filter = ["rater", "instrument"]
    list_select_related = ["session__client", "instrument", "submitted_by"]
    search_fields = ["session__client__code"]
    inlines = [ItemAnswerInline, ScaleScoreInline, RatingChangeInline]
