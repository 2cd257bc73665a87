"""Remove discharged clients whose clinic's retention period has passed (docs/security.md).

    manage.py purge_expired --dry-run   # what would go
    manage.py purge_expired             # remove it, one transaction per client

Each client goes with their sessions, ratings, answers, scores, episodes with their flags and
comments, form links, transfers and change history. The audit log keeps its events (ids only,
nothing clinical).
"""

from django.core.management.base import BaseCommand

from alliance.security.services import expired_clients_purge


def _summary(counts) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in counts.items() if count) or "nothing else"


class Command(BaseCommand):
    help = "Remove discharged clients past their clinic's retention period."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be removed; change nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        purged = expired_clients_purge(dry_run=dry_run)
        verb = "Would remove" if dry_run else "Removed"
        for client, counts in purged:
            self.stdout.write(
                f"{verb} client {client.code} (id {client.pk}, {client.clinic}, discharged "
                f"{client.discharged_at:%Y-%m-%d}): {_summary(counts)}"
            )
        self.stdout.write(f"{verb} {len(purged)} client(s) past retention.")
