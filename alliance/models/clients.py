"""Clients (pseudonymous, minimal PHI) and their transfers between therapists."""

import datetime as dt

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from alliance.models.clinics import Clinic, TimeStampedModel, User
from sessions.models import TherapySession


class ClientQuerySet(models.QuerySet):
    def active(self) -> "ClientQuerySet":
        return self.filter(status=Client.Status.ACTIVE)

    def visible_to(self, user) -> "ClientQuerySet":
        """The one place that decides which clients a user may see.

        A therapist sees the clients they are primary therapist for or have held sessions
        with; a supervisor also sees their supervisees' clients; a clinic admin sees the
        whole clinic; nobody sees another clinic. Everything else answers 404.
        """
        if not (user.is_authenticated and user.is_active and user.clinic_id):
            return self.none()
        in_clinic = self.filter(clinic_id=user.clinic_id)
        if user.is_clinic_admin:
            return in_clinic
        whose = Q(pk__in=[])
        if user.is_therapist:
            whose |= Q(pk=user.pk)
        if user.is_supervisor:
            whose |= Q(supervised_by__supervisor=user)
        therapists = User.objects.filter(whose).values("pk")
        held = TherapySession.objects.filter(client=OuterRef("pk"), therapist__in=therapists)
        return in_clinic.filter(Q(primary_therapist__in=therapists) | Exists(held))


class Client(TimeStampedModel):
    """A person in therapy, known by a pseudonymous code. No name or contact data needed."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DISCHARGED = "discharged", _("Discharged")

    class Language(models.TextChoices):
        ENGLISH = "en", _("English")
        SPANISH = "es", _("Spanish")

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="clients")
    code = models.CharField(
        max_length=32, help_text=_("Pseudonymous code, unique in the clinic. Not a name.")
    )
    display_name = models.CharField(
        max_length=40, blank=True, help_text=_("Optional initials or nickname.")
    )
    primary_therapist = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="primary_clients"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.ENGLISH)
    show_scores_to_client = models.BooleanField(default=False)
    discharged_at = models.DateTimeField(null=True, blank=True)

    objects = ClientQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "code"], name="client_code_unique_per_clinic"
            ),
            models.CheckConstraint(
                condition=Q(status="active", discharged_at__isnull=True)
                | Q(status="discharged", discharged_at__isnull=False),
                name="client_discharged_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(
                fields=["primary_therapist", "status"], name="client_therapist_status_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def get_absolute_url(self) -> str:
        return reverse("client_detail", args=[self.pk])

    @property
    def kept_until(self) -> dt.datetime | None:
        """When a discharged client's record may be purged (the clinic's retention period)."""
        if self.discharged_at is None:
            return None
        return self.discharged_at + dt.timedelta(days=self.clinic.retention_days)


class ClientTransfer(models.Model):
    """A change of primary therapist, kept as history."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="transfers")
    from_therapist = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    to_therapist = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    transferred_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.client}: {self.from_therapist} -> {self.to_therapist}"


class ClientContact(TimeStampedModel):
    """How a client agreed to be reminded of an unused form link: one address of one kind
    (email now; a phone number for SMS later, alliance.notify.channels), stored only with the
    client's consent and only while the clinic has client contact details on.

    Who recorded the consent and when are kept with the address; recording it again (a new
    address) records who and when again. The change history keeps those, never the address:
    withdrawing consent deletes the row and the address is gone.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")

    client = models.OneToOneField(Client, on_delete=models.CASCADE, related_name="contact")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.EMAIL)
    address = models.CharField(max_length=254)
    consent_recorded_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    consent_recorded_at = models.DateTimeField()
    # The client's one-click "stop reminders" (alliance.notify.client_views): no reminder after it.
    reminders_stopped_at = models.DateTimeField(null=True, blank=True)

    # Who recorded or changed consent and when; the address itself is never kept in history.
    history = HistoricalRecords(excluded_fields=["address", "created_at", "updated_at"])

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(address=""), name="client_contact_address"),
        ]

    def __str__(self) -> str:
        return f"Contact of {self.client} ({self.get_kind_display()})"
