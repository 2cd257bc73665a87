"""Recompute every rupture flag from the stored scores, clinic by clinic, and print figures."""

from django.core.management.base import BaseCommand, CommandError

from alliance.flags.services import (
    REFRESH_BATCH_SIZE,
    FlagRefresh,
    flags_refresh_for_clinic,
    flags_refresh_pending,
)
from alliance.models import Clinic


class Command(BaseCommand):
    help = (
        "Recompute all flags (after changing rule settings or instruments, or after an import): "
        "manage.py refresh_flags [--clinic ID] [--batch-size N]; "
        "manage.py refresh_flags --pending retries the clients whose refresh failed"
    )

    def add_arguments(self, parser):
        parser.add_argument("--clinic", type=int, help="Only this clinic (its id).")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=REFRESH_BATCH_SIZE,
            help=f"Clients per detect call and per transaction (default {REFRESH_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--pending",
            action="store_true",
            help="Only retry the clients whose refresh failed after a rating (run it often).",
        )

    def handle(self, *args, clinic: int | None, batch_size: int, pending: bool, **options):
        if pending:
            refreshed, failing = flags_refresh_pending()
            self.stdout.write(f"Pending refreshes: {refreshed} done, {failing} still failing")
            if failing:
                raise CommandError(f"{failing} clients' flags still fail to refresh: see the log.")
            return
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        clinics = Clinic.objects.order_by("pk")
        if clinic is not None:
            clinics = clinics.filter(pk=clinic)
            if not clinics.exists():
                raise CommandError(f"No clinic with id {clinic}.")
        total = FlagRefresh()
        for found in clinics:
            result = flags_refresh_for_clinic(clinic=found, batch_size=batch_size)
            self.stdout.write(f"{found} (id {found.pk}): {_figures(result)}")
            total += result
        if clinic is None:
            self.stdout.write(f"All clinics: {_figures(total)}")


def _figures(result: FlagRefresh) -> str:
    rate = result.rows / result.seconds if result.seconds else 0.0
    return (
        f"{result.clients} clients, {result.rows} score rows in {result.seconds:.2f} s "
        f"({rate:,.0f} rows/s); flags: {result.created} new, {result.updated} updated, "
        f"{result.retired} retired, {result.unretired} back"
    )
