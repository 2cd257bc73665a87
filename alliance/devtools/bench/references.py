"""The raw SQL behind a page, replayed: how long the database alone takes for it.

The runner captures every statement one request sends (CaptureQueriesContext keeps them
with their parameters filled in) and replays them here through the bare DB-API cursor,
fetching every row, inside a transaction that is rolled back: reads and writes alike (the
session, the audit event, a form's rating), as the page ran them, without Django's ORM,
templates or Python around them. A page's time over this is what Python adds.
"""

import re
import statistics
import time

from django.db import connection, transaction

# Statements Django issues for its own transaction handling inside atomic blocks.
SAVEPOINT = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
# A server-side cursor (QuerySet.iterator() on PostgreSQL, a streamed export): replayed
# through one too, its rows read FETCH at a time (a clinic export's are never held whole).
DECLARE = re.compile(r'^\s*DECLARE\s+"[^"]*"\s+NO SCROLL CURSOR\s+WITH(?:OUT)? HOLD\s+FOR\s+', re.I)
FETCH = 10_000


def replayable(captured: list[dict]) -> list[str]:
    """The statements of a captured request, without savepoint bookkeeping."""
    return [
        query["sql"]
        for query in captured
        if query["sql"] and not query["sql"].lstrip().upper().startswith(SAVEPOINT)
    ]


def replay_once(statements: list[str]) -> float:
    """Run the statements once (rolled back); milliseconds."""
    connection.ensure_connection()
    with transaction.atomic():
        raw = connection.connection.cursor()
        try:
            started = time.perf_counter()
            for sql in statements:
                if DECLARE.match(sql):
                    _replay_server_side(DECLARE.sub("", sql))
                    continue
                raw.execute(sql)
                if raw.description is not None:
                    raw.fetchall()
            elapsed = time.perf_counter() - started
        finally:
            raw.close()
        transaction.set_rollback(True)
    return elapsed * 1000


def _replay_server_side(sql: str) -> None:
    # Django's own server-side cursor: WITH HOLD if it finds itself in autocommit, and a
    # failure is a DatabaseError the runner reports as "no reference" rather than a crash.
    with connection.chunked_cursor() as named:
        named.execute(sql)
        while named.fetchmany(FETCH):
            pass


def replay_ms(statements: list[str], *, runs: int) -> float:
    """Median milliseconds of ``runs`` replays (after one to warm the caches)."""
    if not statements:
        return 0.0
    replay_once(statements)
    return statistics.median(replay_once(statements) for _ in range(runs))
