from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from sessions.models import FormLink, TherapySession


@admin.register(TherapySession)
class TherapySessionAdmin(SimpleHistoryAdmin):
    list_display = ["client", "number", "therapist", "starts_at", "status"]
    list_filter = ["status", "client__clinic"]
    list_select_related = ["client", "therapist"]
    search_fields = ["client__code"]
    autocomplete_fields = ["client", "therapist"]
    date_hierarchy = "starts_at"
    readonly_fields = ["revision"]


@admin.register(FormLink)
class FormLinkAdmin(admin.ModelAdmin):
    list_display = ["session", "channel", "created_at", "expires_at", "used_at", "revoked_at"]
    list_filter = ["channel"]
    list_select_related = ["session__client"]
    # Links are created by the application; the token itself is never stored.
    readonly_fields = ["session", "token_hash", "channel", "created_by", "created_at", "used_at"]

    def has_add_permission(self, request) -> bool:
        return False
