"""Therapy sessions and the one-time links clients open to rate them."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class TherapySessionQuerySet(models.QuerySet):
    def visible_to(self, user) -> "TherapySessionQuerySet":
        from alliance.models import Client

        return self.filter(client__in=Client.objects.visible_to(user))

    def completed(self) -> "TherapySessionQuerySet":
        return self.filter(status=TherapySession.Status.COMPLETED)


class TherapySession(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No-show")

    client = models.ForeignKey("alliance.Client", on_delete=models.PROTECT, related_name="sessions")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="therapy_sessions"
    )
    number = models.PositiveIntegerField(help_text=_("Position in the client's course, from 1."))
    starts_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    note = models.CharField(max_length=500, blank=True)
    # Incremented on every edit of the date or note: a stale edit is refused, never applied.
    revision = models.PositiveIntegerField(default=1)
    # The session's client form, kept by measures.services (sessions_client_form_refresh)
    # whenever a client rating is stored: the dashboards count forms and average totals
    # over thousands of sessions without joining every rating and scale score.
    client_form = models.BooleanField(
        default=False, editable=False, help_text=_("The client filled in a session-end form.")
    )
    client_total = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Client-rated total of the form stored last; empty without a form or when too "
            "few items were answered to score it."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TherapySessionQuerySet.as_manager()
    # The client form's fields are derived from the ratings, which keep their own history.
    history = HistoricalRecords(
        excluded_fields=["created_at", "updated_at", "client_form", "client_total"]
    )

    class Meta:
        ordering = ["client", "number"]
        constraints = [
            models.UniqueConstraint(fields=["client", "number"], name="session_number_per_client"),
            models.CheckConstraint(condition=Q(number__gte=1), name="session_number_from_one"),
            models.CheckConstraint(condition=Q(revision__gte=1), name="session_revision_from_one"),
        ]
        indexes = [
            # A therapist's sessions in a time range, and covering what the supervisor's
            # per-therapist figures aggregate (alliance.dashboards.figures): an index-only
            # scan on PostgreSQL, instead of a heap page for every session (at L 10,677
            # sessions: 1,646 buffers instead of 7,796). SQLite keeps the two key columns.
            models.Index(
                fields=["therapist", "starts_at"],
                include=["client", "status", "client_total", "client_form", "id"],
                name="session_therapist_start_idx",
            ),
            # A client's next and last session (the caseload columns): one probe each.
            models.Index(fields=["client", "starts_at"], name="session_client_start_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.client} · session {self.number}"

    def get_absolute_url(self) -> str:
        return reverse("session_detail", args=[self.pk])


def hash_token(token: str) -> str:
    """SHA-256 of a form-link token: only the hash is stored, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A 256-bit random token, URL-safe."""
    return secrets.token_urlsafe(32)


class FormLinkQuerySet(models.QuerySet):
    def live(self) -> "FormLinkQuerySet":
        return self.filter(used_at__isnull=True, revoked_at__isnull=True)


class FormLink(models.Model):
    """A one-time link to a session's client form. Consumed atomically, once."""

    class Channel(models.TextChoices):
        LINK = "link", _("Link")
        QR = "qr", _("QR code")
        KIOSK = "kiosk", _("Tablet hand-over")
        EMAIL = "email", _("Email")

    session = models.ForeignKey(TherapySession, on_delete=models.CASCADE, related_name="form_links")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.LINK)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Reminders sent to the client's consented address (alliance.notify.reminders); each
    # is claimed by a conditional UPDATE of these two before it is sent.
    reminders_sent = models.PositiveSmallIntegerField(default=0, editable=False)
    last_reminded_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = FormLinkQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session"],
                condition=Q(used_at__isnull=True, revoked_at__isnull=True),
                name="formlink_one_live_per_session",
            ),
        ]

    def __str__(self) -> str:
        return f"Form link for {self.session} ({self.get_channel_display()})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class FormLinkReminder(models.Model):
    """One reminder of an unused form link, with the hash of the token it carried.

    Only a token's hash is stored, so a reminder cannot repeat the link first sent: it
    carries a new token for the same link. Every token of a link opens it (the client may
    still have the first message, or the form open) and the link stays one-time and ends
    when it expires, is used or is revoked, whichever token opened it.
    """

    link = models.ForeignKey(FormLink, on_delete=models.CASCADE, related_name="reminders")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["link", "sent_at"]

    def __str__(self) -> str:
        return f"Reminder of {self.link_id} at {self.sent_at:%Y-%m-%d %H:%M}"
