"""manage.py send_reminders: remind clients of their unused form links now (what the
"formlink-reminders" job does every 15 minutes; docs/deployment.md)."""

from django.core.management.base import BaseCommand

from alliance.notify.reminders import formlink_reminders_send


class Command(BaseCommand):
    help = "Send the form-link reminders that are due (clients who consented, links unused)."

    def handle(self, *args, **options):
        sent = formlink_reminders_send()
        self.stdout.write(f"Sent {sent} reminder(s).")
