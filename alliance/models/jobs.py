"""Long work done as a background job (alliance.jobs): a clinic export, a FHIR bundle, a
ratings import, recomputing a clinic's flags. The row is what the job's page shows: its
state, its progress, its result, and the file it made (kept for a while, for its requester
only)."""

from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alliance.models.clinics import Clinic, User


class Job(models.Model):
    """One run of long work, asked for by one user in their clinic.

    ``file`` and ``input_file`` are names inside settings.ALLIANCE_JOB_FILES_DIR (private:
    never under MEDIA or static), random so one cannot be guessed from another. ``error`` is
    a general message for the requester, never a stack trace (those go to the log).
    """

    class Kind(models.TextChoices):
        RATINGS_CSV = "ratings_csv", _("Ratings export (CSV)")
        RATINGS_XLSX = "ratings_xlsx", _("Ratings export (Excel)")
        FHIR_BUNDLE = "fhir_bundle", _("FHIR bundle of the clinic")
        RATINGS_IMPORT = "ratings_import", _("Ratings import")
        FLAGS_RECOMPUTE = "flags_recompute", _("Recomputing the clinic's flags")

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting to start")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Done; the file has been deleted")

    kind = models.CharField(max_length=32, choices=Kind.choices)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="jobs")
    requested_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="jobs")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # Rows (or clients) done of the total; total is None until the job knows it.
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    parameters = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    file = models.CharField(max_length=100, blank=True)
    input_file = models.CharField(max_length=100, blank=True)
    filename = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # The running attempt's last sign of life (its start, each progress write): a RUNNING job
    # whose heartbeat is older than services.LEASE_MINUTES has lost its worker and may be
    # started again by a redelivered message; a fresh one is not.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["requested_by", "-created_at"], name="job_requester_recent_idx"),
            # The purge: files past their time.
            models.Index(
                fields=["expires_at"],
                condition=~models.Q(file="") | ~models.Q(input_file=""),
                name="job_file_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("job_detail", args=[self.pk])

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED, self.State.EXPIRED)

    @property
    def percent(self) -> int | None:
        """Whole percent done, None while the total is unknown."""
        if self.state in (self.State.DONE, self.State.EXPIRED):
            return 100
        if not self.total:
            return None
        return min(100, self.done * 100 // self.total)

    def file_available(self, now=None) -> bool:
        now = now or timezone.now()
        return (
            self.state == self.State.DONE
            and bool(self.file)
            and self.expires_at is not None
            and now < self.expires_at
        )
