"""Send the alert digests now, as Celery beat does (docs/notify.md).

    manage.py send_alert_digests --daily    # new unread alerts of each daily-digest person
    manage.py send_alert_digests --weekly   # each supervisor's queue counts, once a week

Idempotent: alerts already emailed, and a supervisor already sent this week's digest, are
not sent again.
"""

from django.core.management.base import BaseCommand, CommandError

from alliance.notify import alerts


class Command(BaseCommand):
    help = "Send the daily alert digest and/or the supervisors' weekly digest now."

    def add_arguments(self, parser):
        parser.add_argument("--daily", action="store_true", help="The daily alert digest.")
        parser.add_argument("--weekly", action="store_true", help="The supervisors' digest.")

    def handle(self, *args, daily: bool = False, weekly: bool = False, **options):
        if not (daily or weekly):
            raise CommandError("Choose --daily, --weekly or both.")
        if daily:
            sent = alerts.notices_daily_digest()
            self.stdout.write(f"Daily alert digest: {sent} person(s) emailed.")
        if weekly:
            sent = alerts.supervisors_weekly_digest()
            self.stdout.write(f"Supervisor weekly digest: {sent} supervisor(s) emailed.")
