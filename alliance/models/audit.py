"""The append-only audit log, and which API tokens were issued past a second factor."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alliance.models.clinics import Clinic, User


class AccessEventQuerySet(models.QuerySet):
    """The audit log is append-only: no bulk update or delete through the ORM."""

    def update(self, **kwargs):
        raise AccessEvent.AppendOnly("Audit events are never changed.")

    def delete(self):
        raise AccessEvent.AppendOnly("Audit events are never deleted.")

    def for_clinic(self, clinic_id: int) -> "AccessEventQuerySet":
        return self.filter(clinic_id=clinic_id)


class AccessEvent(models.Model):
    """Who read or changed which client's data, when and from where (alliance.security.audit).

    Append-only: the ORM refuses changes and deletions and, on PostgreSQL, a trigger refuses
    UPDATE and DELETE. Nothing clinical is stored: ids, names of things, the address and the
    browser. Client ids are plain numbers so that purging a client keeps its access history.
    """

    class Action(models.TextChoices):
        READ = "read", _("Read")
        CREATE = "create", _("Create")
        UPDATE = "update", _("Update")
        DELETE = "delete", _("Delete")
        EXPORT = "export", _("Export")
        LOGIN = "login", _("Login")
        LOGIN_FAILED = "login-failed", _("Login failed")
        LOGOUT = "logout", _("Logout")
        DENIED = "denied", _("Denied")

    class AppendOnly(Exception):
        pass

    at = models.DateTimeField(default=timezone.now, editable=False)
    # No foreign keys to people or clients: the log outlives them and never cascades.
    user = models.ForeignKey(
        User,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True)
    roles = models.CharField(max_length=64, blank=True)
    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    object_type = models.CharField(max_length=32, blank=True)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    client_id = models.PositiveBigIntegerField(null=True, blank=True)
    url_name = models.CharField(max_length=100, blank=True)
    method = models.CharField(max_length=8, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    objects = AccessEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["clinic", "-at"], name="accessevent_clinic_at_idx"),
            models.Index(fields=["client_id", "-at"], name="accessevent_client_at_idx"),
            models.Index(fields=["user", "-at"], name="accessevent_user_at_idx"),
        ]

    def __str__(self) -> str:
        what = f"{self.object_type} {self.object_id or ''}".strip()
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {what}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise self.AppendOnly("Audit events are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise self.AppendOnly("Audit events are never deleted.")


class ApiTokenSecondFactor(models.Model):
    """Marks an API token (DRF's Token) issued after a verified second factor.

    A token without this mark stops working once two-factor sign-in applies to its user (they
    set up an app, their clinic requires it, or they are site staff): see
    alliance.api.authentication.TokenAuthentication.
    """

    token = models.OneToOneField(
        "authtoken.Token",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="second_factor",
    )
    verified_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"second factor verified {self.verified_at:%Y-%m-%d %H:%M}"
