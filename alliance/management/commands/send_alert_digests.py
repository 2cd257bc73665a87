"""Send the alert digests now, as Celery beat does (docs/notify.md).

    manage.py send_alert_digests --daily    # new unread alerts of each daily-digest person
    manage.py send_alert_digests --weekly   # each supervisor's queue counts, once a week
    manage.py send_alert_digests --at-once  # alerts at once no email has taken yet

Each serves the people whose clinic's time is now in the 06:00 hour (Mondays for the
weekly), so cron runs it hourly. Idempotent: alerts already emailed, and a person already
sent today's (this week's) digest, are not sent again.
"""

from django.core.management.base import BaseCommand, CommandError

from alliance.notify import alerts


class Command(BaseCommand):
    help = "Send the alert digests due now, and alerts at once no email has taken."

    def add_arguments(self, parser):
        parser.add_argument("--daily", action="store_true", help="The daily alert digest.")
        parser.add_argument("--weekly", action="store_true", help="The supervisors' digest.")
        parser.add_argument(
            "--at-once", action="store_true", help="Alerts at once no email has taken yet."
        )

    def handle(
        self, *args, daily: bool = False, weekly: bool = False, at_once: bool = False, **options
    ):
        if not (daily or weekly or at_once):
            raise CommandError("Choose --daily, --weekly, --at-once, or several.")
        if at_once:
            sent = alerts.notices_email_unsent_at_once()
            self.stdout.write(f"Alerts at once: {sent} person(s) emailed.")
        if daily:
            sent = alerts.notices_daily_digest()
            self.stdout.write(f"Daily alert digest: {sent} person(s) emailed.")
        if weekly:
            sent = alerts.supervisors_weekly_digest()
            self.stdout.write(f"Supervisor weekly digest: {sent} supervisor(s) emailed.")
