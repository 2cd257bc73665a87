"""In-app notices: a therapist is told once when a rupture episode of their client opens or
becomes unrepaired (alliance.notify)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alliance.models.clients import Client
from alliance.models.clinics import User
from alliance.models.flags import Episode


class NoticeQuerySet(models.QuerySet):
    def visible_to(self, user) -> "NoticeQuerySet":
        """The user's own notices about clients they may see now (a transfer hides the old
        therapist's) and episodes that still apply (a corrected rating retires one)."""
        if not (user.is_authenticated and user.is_active):
            return self.none()
        return self.filter(
            recipient=user,
            client__in=Client.objects.visible_to(user),
            episode__retired_at__isnull=True,
        )

    def unread(self) -> "NoticeQuerySet":
        return self.filter(read_at__isnull=True)


class Notice(models.Model):
    """One item per rupture event for one person: unique per (recipient, episode, kind), so a
    refresh run twice makes one notice. It carries ids only; the page and the emails say
    what happened in general words (alliance.notify)."""

    class Kind(models.TextChoices):
        EPISODE_OPENED = "episode_opened", _("A possible rupture was flagged")
        EPISODE_UNREPAIRED = "episode_unrepaired", _("A rupture is still unrepaired")

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # Not clinical records: they go with the episode and the client (a retention purge).
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="notices")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="notices")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set when an email (at once or in the daily digest) has claimed the notice.
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = NoticeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "episode", "kind"], name="notice_once_per_event"
            ),
        ]
        indexes = [
            # "My unread": the badge's count and the digest's claim.
            models.Index(
                fields=["recipient", "created_at"],
                condition=Q(read_at__isnull=True),
                name="notice_unread_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id} (episode {self.episode_id})"
