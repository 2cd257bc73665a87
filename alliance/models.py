"""Core domain: clinics, people and their roles, clients, rupture episodes and flags."""

import datetime as dt
import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from alliance.flags.rules import rule_choices
from measures.models import Rater
from sessions.models import TherapySession


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


class User(AbstractUser):
    """A clinician or administrator. Clients have no account."""

    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    is_therapist = models.BooleanField(_("therapist"), default=False)
    is_supervisor = models.BooleanField(_("supervisor"), default=False)
    is_clinic_admin = models.BooleanField(_("clinic admin"), default=False)

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


class EpisodeQuerySet(models.QuerySet):
    def visible_to(self, user) -> "EpisodeQuerySet":
        return self.filter(client__in=Client.objects.visible_to(user))

    def active(self) -> "EpisodeQuerySet":
        return self.filter(retired_at__isnull=True)

    def open(self) -> "EpisodeQuerySet":
        return self.active().filter(status=Episode.Status.OPEN)

    def unresolved(self) -> "EpisodeQuerySet":
        return self.active().exclude(status=Episode.Status.RESOLVED)


class Episode(TimeStampedModel):
    """One event on a client's course, as the clinician handles it: the flags that describe
    it (alliance.analytics.episodes.group_episodes), acknowledged, resolved and commented once.

    Identity is (client, session, kind), ``session`` being where the episode began:
    recomputing updates the row in place, so the workflow survives; an episode none of whose
    flags is found any more is retired, not deleted.
    """

    class Kind(models.TextChoices):
        RUPTURE = "rupture", _("Possible rupture")
        CEILING = "ceiling", _("Ratings at the ceiling")
        MISSING_FORMS = "missing_forms", _("Client forms missing")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("Resolved")

    class RepairStatus(models.TextChoices):
        PENDING = "pending", _("Pending")
        REPAIRED = "repaired", _("Repaired")
        UNREPAIRED = "unrepaired", _("Unrepaired")

    class RuptureType(models.TextChoices):
        # Safran & Muran's rupture markers.
        WITHDRAWAL = "withdrawal", _("Withdrawal")
        CONFRONTATION = "confrontation", _("Confrontation")
        BOTH = "both", _("Both")
        UNCLEAR = "unclear", _("Unclear")

    class RepairStrategy(models.TextChoices):
        CLARIFY = "clarify", _("Clarified a misunderstanding")
        CHANGE_TASK_OR_GOAL = "change_task_or_goal", _("Changed the task or goal")
        EXPLORE_TOGETHER = "explore_together", _("Explored the rupture together")
        OWN_CONTRIBUTION = "own_contribution", _("Acknowledged my own contribution")
        OTHER = "other", _("Other")

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="episodes")
    session = models.ForeignKey(TherapySession, on_delete=models.PROTECT, related_name="episodes")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The last session of a run of low scores (the first one otherwise).
    last_session = models.ForeignKey(TherapySession, on_delete=models.PROTECT, related_name="+")
    repair_status = models.CharField(
        max_length=16, choices=RepairStatus.choices, blank=True, default=""
    )
    repaired_session = models.ForeignKey(
        TherapySession, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set when a recomputation no longer finds any of its flags (e.g. a corrected rating).
    retired_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    acknowledged_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    action_note = models.TextField(blank=True, help_text=_("What was done to repair."))
    action_session = models.ForeignKey(
        TherapySession, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rupture_type = models.CharField(max_length=16, choices=RuptureType.choices, blank=True)
    repair_strategy = models.CharField(max_length=32, choices=RepairStrategy.choices, blank=True)
    resolved_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = EpisodeQuerySet.as_manager()
    # Workflow changes (acknowledge, resolve) save one row at a time and are kept here; the
    # detection fields are recomputed from scores in bulk (flags_refresh) and are not.
    history = HistoricalRecords(excluded_fields=["created_at", "updated_at"])

    class Meta:
        ordering = ["client", "session__starts_at", "session__number", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["client", "session", "kind"], name="episode_identity"),
        ]
        indexes = [
            models.Index(
                fields=["client"],
                condition=Q(retired_at__isnull=True) & ~Q(status="resolved"),
                name="episode_unresolved_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client} #{self.session_id} {self.kind}"

    def get_absolute_url(self) -> str:
        return reverse("episode_detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.retired_at is None


class EpisodeComment(models.Model):
    """A supervisor's (or therapist's) comment on an episode."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Comment by {self.author} on {self.episode}"


class FlagQuerySet(models.QuerySet):
    def visible_to(self, user) -> "FlagQuerySet":
        return self.filter(client__in=Client.objects.visible_to(user))

    def active(self) -> "FlagQuerySet":
        return self.filter(retired_at__isnull=True)


class Flag(TimeStampedModel):
    """What one rule found at one session of a client's series (alliance.analytics.detect):
    the evidence of its episode, which carries the clinician's workflow.

    Identity is (client, session, rater, scale, rule): recomputing updates the row in place;
    a flag whose condition no longer holds is retired, not deleted.
    """

    # One member per rule of the registry (alliance.analytics.registry), labelled by
    # alliance.flags.rules: Flag.Rule.RELIABLE_DROP == "reliable_drop".
    Rule = models.TextChoices("Rule", rule_choices(), module=__name__, qualname="Flag.Rule")

    RepairStatus = Episode.RepairStatus

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="flags")
    session = models.ForeignKey(TherapySession, on_delete=models.PROTECT, related_name="flags")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="flags")
    rater = models.CharField(max_length=16, choices=Rater.choices)
    scale = models.CharField(max_length=32)
    rule = models.CharField(max_length=32, choices=Rule.choices)
    magnitude = models.FloatField()
    explanation = models.TextField()
    repair_status = models.CharField(
        max_length=16, choices=Episode.RepairStatus.choices, blank=True, default=""
    )
    repaired_session = models.ForeignKey(
        "therapy_sessions.TherapySession",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Set when a recomputation no longer finds the condition (e.g. a corrected rating).
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = FlagQuerySet.as_manager()

    class Meta:
        ordering = ["client", "session__number", "rule"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "session", "rater", "scale", "rule"], name="flag_identity"
            ),
            models.CheckConstraint(condition=Q(magnitude__gte=0), name="flag_magnitude_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.client} #{self.session_id} {self.rule} ({self.rater} {self.scale})"

    @property
    def is_active(self) -> bool:
        return self.retired_at is None


class PendingFlagRefresh(models.Model):
    """A client whose flags could not be recomputed after their scores changed.

    The scores are stored all the same; ``alliance.flags.services.flags_refresh_pending`` retries
    (``manage.py refresh_flags --pending``) and removes the row once a refresh succeeds.
    """

    client = models.OneToOneField(
        Client, on_delete=models.CASCADE, related_name="pending_flag_refresh"
    )
    failed_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=1)
    # The exception's class only: its message may quote data.
    error = models.CharField(max_length=100)

    def __str__(self) -> str:
        return f"Flags of {self.client} to refresh (failed {self.attempts}x)"


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
