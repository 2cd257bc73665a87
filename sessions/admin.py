from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from measures.admin import ClinicalRecordAdmin
from sessions.models import FormLink, TherapySession


@admin.register(TherapySession)
class TherapySessionAdmin(ClinicalRecordAdmin, SimpleHistoryAdmin):
    list_display = ["client", "number", "therapist", "starts_at", "status"]
    list_filter = ["status", "client__clinic"]
    list_select_related = ["client", "therapist"]
    search_fields = ["client__code"]
    date_hierarchy = "starts_at"


@admin.register(FormLink)
class FormLinkAdmin(ClinicalRecordAdmin, admin.ModelAdmin):
    """Read only (ClinicalRecordAdmin); the token itself is never stored, only its hash."""

    list_display = ["session", "channel", "created_at", "expires_at", "used_at", "revoked_at"]
    list_filter = ["channel"]
    list_select_related = ["session__client"]
