"""manage.py refresh_overview: compute each clinic's overview afresh (its default period),
so the page shows figures minutes old without reading the whole clinic itself. Scheduled
every few minutes (docs/deployment.md, "Scheduled commands")."""

from django.core.management.base import BaseCommand

from alliance.dashboards.overview import SNAPSHOT_MAX_AGE, clinic_overviews_refresh


class Command(BaseCommand):
    help = (
        "Compute each clinic's overview of its default period afresh and delete old "
        f"snapshots. Run it more often than every {SNAPSHOT_MAX_AGE.seconds // 60} minutes."
    )

    def handle(self, *args, **options):
        refreshed = clinic_overviews_refresh()
        self.stdout.write(f"Refreshed the overview of {refreshed} clinic(s).")
