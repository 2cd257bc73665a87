"""Import historical ratings from a CSV file: a dry run by default, --apply to import."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from alliance.interop.imports import (
    ImportRejected,
    csv_text,
    ratings_import_apply,
    ratings_import_check,
)
from alliance.models import Clinic


class Command(BaseCommand):
    help = (
        "Check (and with --apply, import all-or-nothing) historical ratings from a CSV file. "
        "The format is in docs/api.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The CSV file (UTF-8).")
        parser.add_argument("--clinic", type=int, required=True, help="The clinic's id.")
        parser.add_argument(
            "--apply", action="store_true", help="Import (default: only check, a dry run)."
        )

    def handle(self, *args, file: Path, clinic: int, apply: bool, **options):
        found = Clinic.objects.filter(pk=clinic).first()
        if found is None:
            raise CommandError(f"No clinic with id {clinic}.")
        try:
            text = csv_text(file.read_bytes())
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            if apply:
                report = ratings_import_apply(clinic=found, text=text)
            else:
                report = ratings_import_check(clinic=found, text=text)
        except ImportRejected as exc:
            report = exc.report
        for problem in report.problems:
            where = f"row {problem.row}" + (f", {problem.column}" if problem.column else "")
            self.stderr.write(f"{where}: {problem.message}")
        for warning in report.warnings:
            self.stdout.write(f"row {warning.row}, {warning.column}: warning: {warning.message}")
        summary = report.as_dict()
        if report.problems:
            raise CommandError(
                f"{len(report.problems)} problem(s) in {report.rows} row(s); nothing was imported."
            )
        if report.applied:
            self.stdout.write(
                f"Imported {summary['ratings']} rating(s) for {len(summary['clients'])} "
                f"client(s), creating {summary['sessions_created']} session(s)."
            )
        else:
            self.stdout.write(
                f"Dry run: {summary['ratings']} rating(s) for {len(summary['clients'])} client(s) "
                f"would be imported, creating {summary['sessions_to_create']} session(s). "
                "Run again with --apply to import."
            )
