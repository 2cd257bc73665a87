"""The Django admin site, for site staff (no clinic; `createsuperuser`).

Clinical records (clients, sessions, form links, ratings with their answers and scores,
episodes with their flags and comments, transfers) are read only here, with no exception: they
change only through the app's services, which scope them to a clinic, keep their rules (a rating's
scores match its answers, a flag's lifecycle, a session's rateability), refresh the flags and
record the change in the history. Site staff are not clinicians; a correction is made by the
clinic in the app, a purge by `manage.py purge_expired`. Every admin page of a clinical
model is recorded in the audit log (alliance.security.audit.AUDITED, "admin:..."), and
staff reach the admin only past a second factor (alliance.security.two_factor). See
docs/security.md.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import TokenProxy
from simple_history.admin import SimpleHistoryAdmin

from alliance.models import (
    AccessEvent,
    Client,
    ClientTransfer,
    Clinic,
    Episode,
    EpisodeComment,
    Flag,
    Supervision,
    User,
)
from measures.admin import ClinicalRecordAdmin


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "timezone",
        "form_link_hours",
        "rating_edit_days",
        "kiosk_session_days",
    ]
    search_fields = ["name"]
    # Changed on the clinic's Rupture rules page only: it checks every parameter's range,
    # saves the settings and starts a job recomputing the clinic's flags a batch at a time
    # (a failed job says so on its page and can be tried again). Client contact
    # details on the Security page only: turning them off deletes the stored addresses.
    readonly_fields = ["rule_settings", "client_contact_details"]


# API tokens are credentials and an authenticator's key is a second factor: neither is shown
# to site staff (Django's pages name a token by its key). A person's tokens end when they are
# deactivated or their password or second factor is reset; a new authenticator is set up
# through a one-time link (manage.py two_factor_link). Their admin modules are imported here
# so that they have registered before this unregisters them (autodiscover imports this
# app's admin first).
import django_otp.plugins.otp_totp.admin  # noqa: E402, F401
import rest_framework.authtoken.admin  # noqa: E402, F401

admin.site.unregister(TOTPDevice)
admin.site.unregister(TokenProxy)


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


class ClientTransferInline(ClinicalRecordAdmin, admin.TabularInline):
    model = ClientTransfer
    fk_name = "client"
    extra = 0


# No autocomplete_fields on clinical admins: nothing is edited here.
@admin.register(Client)
class ClientAdmin(ClinicalRecordAdmin, SimpleHistoryAdmin):
    list_display = ["code", "clinic", "primary_therapist", "status", "language"]
    list_filter = ["clinic", "status", "language"]
    list_select_related = ["clinic", "primary_therapist"]
    search_fields = ["code", "display_name"]
    inlines = [ClientTransferInline]


class EpisodeCommentInline(ClinicalRecordAdmin, admin.TabularInline):
    model = EpisodeComment
    extra = 0


class FlagInline(ClinicalRecordAdmin, admin.TabularInline):
    model = Flag
    fields = ["rule", "rater", "scale", "session", "magnitude", "repair_status", "retired_at"]
    extra = 0


@admin.register(Episode)
class EpisodeAdmin(ClinicalRecordAdmin, SimpleHistoryAdmin):
    list_display = ["client", "session", "kind", "repair_status", "status", "retired_at"]
    list_filter = ["kind", "status", "repair_status"]
    list_select_related = ["client", "session"]
    search_fields = ["client__code"]
    inlines = [FlagInline, EpisodeCommentInline]


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
