"""Clinics and their people: the clinic (timezone, rule settings, limits), the user with
their roles, and supervision links."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not an IANA timezone name."), params={"value": value})


KIOSK_SESSION_DAYS_MAX = 90


class Clinic(TimeStampedModel):
    name = models.CharField(max_length=200)
    timezone = models.CharField(
        max_length=64, default="UTC", validators=[validate_timezone], help_text="IANA name."
    )
    form_link_hours = models.PositiveSmallIntegerField(
        default=72,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
        help_text="How long a client's one-time form link stays valid.",
    )
    rating_edit_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MaxValueValidator(365)],
        help_text="How long a therapist may edit their own post-session rating.",
    )
    # Per-rule overrides of alliance.analytics.DEFAULTS; validated by the analytics core.
    rule_settings = models.JSONField(default=dict, blank=True)
    # A tablet hand-over of an older session is a likely mistake (the wrong session picked).
    kiosk_session_days = models.PositiveSmallIntegerField(
        default=2,
        validators=[MaxValueValidator(KIOSK_SESSION_DAYS_MAX)],
        help_text=_(
            "A session older than this many days is handed over on a tablet only after the "
            "therapist confirms it (0: only today's sessions go without confirming)."
        ),
    )
    client_instrument = models.ForeignKey(
        "measures.Instrument",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: the shipped client form.",
    )
    therapist_instrument = models.ForeignKey(
        "measures.Instrument",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: the shipped therapist form.",
    )
    require_two_factor = models.BooleanField(
        default=False,
        help_text=_("Everyone in the clinic signs in with a code from an authenticator app too."),
    )
    # A clinic decision (docs/security.md): 7 years is a common minimum for clinical records.
    retention_days = models.PositiveIntegerField(
        default=2557,
        validators=[MinValueValidator(1)],
        help_text=_("Days a discharged client's record is kept before purge_expired removes it."),
    )
    # Off: no client address is stored, shown or used (turning it off deletes them:
    # alliance.security.services.clinic_security_update).
    client_contact_details = models.BooleanField(
        default=False,
        help_text=_(
            "Therapists may store a client's email address, with the client's consent, to "
            "remind them of an unused form link. Turning this off deletes every stored address."
        ),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], name="clinic_name_unique"),
            models.CheckConstraint(
                condition=Q(form_link_hours__gte=1), name="clinic_link_hours_min"
            ),
            models.CheckConstraint(
                condition=Q(rating_edit_days__lte=365), name="clinic_rating_edit_days_max"
            ),
            models.CheckConstraint(
                condition=Q(retention_days__gte=1), name="clinic_retention_days_min"
            ),
            models.CheckConstraint(
                condition=Q(kiosk_session_days__lte=KIOSK_SESSION_DAYS_MAX),
                name="clinic_kiosk_session_days_max",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Role(models.TextChoices):
    THERAPIST = "therapist", _("Therapist")
    SUPERVISOR = "supervisor", _("Supervisor")
    CLINIC_ADMIN = "clinic_admin", _("Clinic admin")


class AlertEmail(models.TextChoices):
    """How a person is emailed about their notices (alliance.notify)."""

    IMMEDIATELY = "immediately", _("At once, when there is a new alert")
    DAILY = "daily", _("A daily digest")
    NONE = "none", _("No emails (only the badge in Alliance)")


class User(AbstractUser):
    """A clinician or administrator. Clients have no account."""

    AlertEmail = AlertEmail

    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    is_therapist = models.BooleanField(_("therapist"), default=False)
    is_supervisor = models.BooleanField(_("supervisor"), default=False)
    is_clinic_admin = models.BooleanField(_("clinic admin"), default=False)
    # A daily digest by default: a rupture reaches the therapist within a day even if they
    # do not sign in, without an email for every one (the badge is the main channel).
    alert_email = models.CharField(
        _("email alerts"), max_length=16, choices=AlertEmail.choices, default=AlertEmail.DAILY
    )
    # The language of the messages sent to this person (and of their pages once chosen).
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    # When the daily digest was last sent (one per day of the clinic's calendar).
    daily_digest_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the supervisor's weekly digest was last sent (one per week, alliance.notify).
    weekly_digest_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            # A person with a clinical role always belongs to a clinic.
            models.CheckConstraint(
                condition=Q(clinic__isnull=False)
                | Q(is_therapist=False, is_supervisor=False, is_clinic_admin=False),
                name="user_role_needs_clinic",
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def roles(self) -> list[Role]:
        flags = {
            Role.THERAPIST: self.is_therapist,
            Role.SUPERVISOR: self.is_supervisor,
            Role.CLINIC_ADMIN: self.is_clinic_admin,
        }
        return [role for role, held in flags.items() if held]


class Supervision(TimeStampedModel):
    supervisor = models.ForeignKey(User, on_delete=models.CASCADE, related_name="supervisions")
    therapist = models.ForeignKey(User, on_delete=models.CASCADE, related_name="supervised_by")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["supervisor", "therapist"], name="supervision_unique"),
            models.CheckConstraint(
                condition=~Q(supervisor=models.F("therapist")), name="supervision_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supervisor} supervises {self.therapist}"

    def clean(self) -> None:
        if self.supervisor.clinic_id != self.therapist.clinic_id:
            raise ValidationError(_("Supervisor and therapist must work in the same clinic."))
