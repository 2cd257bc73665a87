"""Rupture episodes and the flags that found them, their comments, and the clients whose
flags wait for a retried refresh."""

from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from alliance.flags.rules import rule_choices
from alliance.models.clients import Client
from alliance.models.clinics import TimeStampedModel, User
from measures.models import Rater
from sessions.models import TherapySession


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
