"""The benchmark's own database, made and dropped with Django's test-database machinery.

SQLite: a temporary file. PostgreSQL: a database named ``<name>_bench`` next to the
configured one. Either way the configured database is never written to.

A built clinic can be kept (``manage.py bench --keep``) as a copy the next run starts
from instead of building again: on PostgreSQL a template database ``<name>_bench_<scale>``
(the copy is ``CREATE DATABASE ... TEMPLATE``, planner statistics and visibility map
included), on SQLite the file ``var/bench-<scale>.sqlite3``. Each run works on a copy, so
what it writes (the client form's new sessions and ratings) never reaches the next run.
"""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection

# Where SQLite's kept clinics and every kept clinic's build report live.
KEPT_DIR = Path(django_settings.BASE_DIR) / "var"


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """Create a fresh, migrated database for the benchmark, point the default connection at
    it for the duration, then drop it. Yields its name."""
    settings = connection.settings_dict
    old_name = settings["NAME"]
    old_test = dict(settings.get("TEST") or {})
    temp_dir = None
    if connection.vendor == "sqlite":
        temp_dir = tempfile.mkdtemp(prefix="alliance-bench-")
        test_name = os.path.join(temp_dir, "bench.sqlite3")
    else:
        test_name = f"{old_name}_bench"
    settings["TEST"] = {**old_test, "NAME": test_name}
    try:
        name = connection.creation.create_test_db(
            verbosity=0, autoclobber=True, serialize=False, keepdb=False
        )
        try:
            yield name
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
    finally:
        settings["TEST"] = old_test
        if temp_dir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(temp_dir)


@dataclass(frozen=True)
class KeptClinic:
    """A kept copy of a built clinic: where it is and what its build reported."""

    scale: str
    copy: str  # the template database's name, or the SQLite file's path

    @property
    def report_path(self) -> Path:
        return KEPT_DIR / f"{Path(self.copy).stem}.json"

    def report(self) -> dict | None:
        """The build's counts and seconds, or None when there is no complete copy, or when it
        was built by another version of the clinic's builder (then it is built again)."""
        if not self.report_path.exists() or not self._exists():
            return None
        report = json.loads(self.report_path.read_text())
        same = report.get("copy") == self.copy and report.get("builder") == builder_version()
        return report if same else None

    def _exists(self) -> bool:
        if connection.vendor == "sqlite":
            return Path(self.copy).exists()
        with _maintenance() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.copy])
            return cursor.fetchone() is not None


def kept_clinic(scale: str) -> KeptClinic:
    """Where the clinic of ``scale`` is kept, for the configured database."""
    if connection.vendor == "sqlite":
        return KeptClinic(scale, str(KEPT_DIR / f"bench-{scale}.sqlite3"))
    return KeptClinic(scale, f"{connection.settings_dict['NAME']}_bench_{scale.lower()}")


@contextlib.contextmanager
def bench_copy(kept: KeptClinic) -> Iterator[str]:
    """Point the default connection at a fresh copy of the kept clinic (migrated, in case
    the code has new migrations), then drop the copy. Yields its name."""
    settings = connection.settings_dict
    old_name = settings["NAME"]
    if connection.vendor == "sqlite":
        temp_dir = tempfile.mkdtemp(prefix="alliance-bench-")
        name = os.path.join(temp_dir, "bench.sqlite3")
        shutil.copyfile(kept.copy, name)
    else:
        name = f"{kept.copy}_copy"
        _drop_and_copy(kept.copy, into=name)
    settings["NAME"] = name
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield name
    finally:
        connection.close()
        settings["NAME"] = old_name
        if connection.vendor == "sqlite":
            shutil.rmtree(os.path.dirname(name), ignore_errors=True)
        else:
            with _maintenance() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


def keep(kept: KeptClinic, report: dict) -> None:
    """Keep the database the connection points at (a benchmark's, just built) as ``kept``,
    with its build ``report``. The connection is closed and reopened on the same database."""
    KEPT_DIR.mkdir(exist_ok=True)
    kept.report_path.unlink(missing_ok=True)
    name = connection.settings_dict["NAME"]
    connection.close()
    if connection.vendor == "sqlite":
        shutil.copyfile(name, kept.copy)
    else:
        _drop_and_copy(name, into=kept.copy)
    kept.report_path.write_text(
        json.dumps({**report, "copy": kept.copy, "builder": builder_version()}, indent=2) + "\n"
    )


def builder_version() -> str:
    """A digest of the code that builds the synthetic clinic (synthetic.py and loading.py):
    a kept clinic built by other code is not reused."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("synthetic.py", "loading.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _maintenance():
    """A cursor on PostgreSQL's maintenance database ``postgres`` (as Django's test
    databases are made from): a database is copied or dropped only while no one is
    connected to it. The default connection is closed before and after."""
    settings = connection.settings_dict
    name = settings["NAME"]
    connection.close()
    settings["NAME"] = "postgres"
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()
        settings["NAME"] = name


def _drop_and_copy(template: str, *, into: str) -> None:
    """On PostgreSQL: ``into`` becomes a copy of ``template`` (names made here, not typed)."""
    with _maintenance() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{into}"')
        cursor.execute(f'CREATE DATABASE "{into}" TEMPLATE "{template}"')
