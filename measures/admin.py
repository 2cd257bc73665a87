from django.contrib import admin

from measures.models import Instrument, ItemAnswer, Rating, RatingChange, ScaleScore


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
class RatingAdmin(admin.ModelAdmin):
    """Read only, like every clinical record in the admin site (the reason is in
    alliance.admin; measures imports nothing from alliance): ratings change only through
    measures.services.rating_update, so scores always match answers and every correction is
    kept as a RatingChange."""

    list_display = ["session", "rater", "instrument", "submitted_at", "submitted_by"]
    list_filter = ["rater", "instrument"]
    list_select_related = ["session__client", "instrument", "submitted_by"]
    search_fields = ["session__client__code"]
    inlines = [ItemAnswerInline, ScaleScoreInline, RatingChangeInline]

    def has_view_permission(self, request, obj=None) -> bool:
        # Never in the admin's autocomplete: it would list ratings outside the audit log.
        match = getattr(request, "resolver_match", None)
        if match is not None and match.view_name == "admin:autocomplete":
            return False
        return super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
