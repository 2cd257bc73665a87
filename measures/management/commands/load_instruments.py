"""Load instrument definition files into the database (idempotent)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from measures.definitions import DefinitionError, builtin_definition_paths, load_definition_file
from measures.services import instrument_load


class Command(BaseCommand):
    help = (
        "Validate and load instrument definitions (JSON). Without paths, loads the shipped "
        "instruments. All files are validated before anything is stored; a version that "
        "already has ratings is never changed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="*", type=Path, help="definition files (.json)")

    def handle(self, *args, paths: list[Path], **options) -> None:
        paths = paths or builtin_definition_paths()
        definitions, problems = [], []
        for path in paths:
            try:
                definitions.append((path, load_definition_file(path)))
            except DefinitionError as exc:
                problems.append(str(exc))
        if problems:
            raise CommandError("\n".join(problems))
        try:
            with transaction.atomic():
                results = [
                    instrument_load(definition=definition, source=path.name)
                    for path, definition in definitions
                ]
        except DefinitionError as exc:
            raise CommandError(str(exc)) from None
        for instrument, outcome in results:
            self.stdout.write(
                f"{outcome:9} {instrument.key} v{instrument.version} ({instrument.rater})"
            )
