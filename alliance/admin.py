from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from simple_history.admin import SimpleHistoryAdmin

from alliance.models import (
    AccessEvent,
    Client,
    ClientTransfer,
    Clinic,
    Flag,
    FlagComment,
    Supervision,
    User,
)


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "timezone", "form_link_hours", "rating_edit_days"]
    search_fields = ["name"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = [
        "username",
        "clinic",
        "is_therapist",
        "is_supervisor",
        "is_clinic_admin",
        "is_active",
    ]
    list_filter = ["clinic", "is_therapist", "is_supervisor", "is_clinic_admin", "is_active"]
    fieldsets = [
        *BaseUserAdmin.fieldsets,
        (
            "Clinic and roles",
            {"fields": ["clinic", "is_therapist", "is_supervisor", "is_clinic_admin"]},
        ),
    ]


@admin.register(Supervision)
class SupervisionAdmin(admin.ModelAdmin):
    list_display = ["supervisor", "therapist", "created_at"]
    list_select_related = ["supervisor", "therapist"]
    autocomplete_fields = ["supervisor", "therapist"]


class ClientTransferInline(admin.TabularInline):
    model = ClientTransfer
    fk_name = "client"
    extra = 0
    can_delete = False
    readonly_fields = ["from_therapist", "to_therapist", "transferred_by", "note", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Client)
class ClientAdmin(SimpleHistoryAdmin):
    list_display = ["code", "clinic", "primary_therapist", "status", "language"]
    list_filter = ["clinic", "status", "language"]
    list_select_related = ["clinic", "primary_therapist"]
    search_fields = ["code", "display_name"]
    autocomplete_fields = ["primary_therapist"]
    inlines = [ClientTransferInline]


class FlagCommentInline(admin.TabularInline):
    model = FlagComment
    extra = 0
    readonly_fields = ["created_at"]
    autocomplete_fields = ["author"]


@admin.register(Flag)
class FlagAdmin(SimpleHistoryAdmin):
    list_display = [
        "client",
        "session",
        "rule",
        "rater",
        "scale",
        "magnitude",
        "repair_status",
        "status",
    ]
    list_filter = ["rule", "status", "repair_status", "rater"]
    list_select_related = ["client", "session"]
    search_fields = ["client__code"]
    # Detection fields are written by the analytics engine only.
    readonly_fields = [
        "client",
        "session",
        "rater",
        "scale",
        "rule",
        "magnitude",
        "explanation",
        "repair_status",
        "repaired_session",
        "retired_at",
    ]
    inlines = [FlagCommentInline]


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    """The audit log, read only: nobody adds, changes or deletes an event (the model and, on
    PostgreSQL, a trigger refuse it too)."""

    list_display = ["at", "username", "roles", "action", "object_type", "object_id", "client_id"]
    list_filter = ["action", "object_type", "clinic"]
    search_fields = ["username", "=client_id", "=object_id", "ip"]
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AccessEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
