"""The benchmark's own database, made and dropped with Django's test-database machinery.

SQLite: a temporary file. PostgreSQL: a database named ``<name>_bench`` next to the
configured one. Either way the configured database is never written to.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator

from django.db import connection


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
