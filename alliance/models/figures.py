"""Figures computed ahead of the page that shows them: the clinic overview's, which read
every client of a clinic (docs/deployment.md, "Network scale")."""

from django.db import models

from alliance.models.clinics import Clinic


class ClinicOverviewSnapshot(models.Model):
    """The clinic overview of one period as it was computed at ``computed_at``
    (``alliance.dashboards.overview``): counts, means and rule keys, no client codes and no
    names. Refreshed by ``manage.py refresh_overview`` and by the page when too old."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    start = models.DateField()
    end = models.DateField()
    computed_at = models.DateTimeField()
    figures = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "start", "end"], name="overview_snapshot_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.clinic_id}: {self.start} to {self.end} at {self.computed_at:%Y-%m-%d %H:%M}"
