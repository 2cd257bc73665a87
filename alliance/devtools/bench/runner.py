"""Time requests with Django's test client: median and p95 server time, SQL queries, and
the references a page is compared with: its own SQL replayed raw, and a trivial page."""

import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import django
import numpy as np
from django.db import DatabaseError, connection, transaction
from django.test import Client as TestClient
from django.test.utils import CaptureQueriesContext, override_settings

from alliance.devtools.bench import references
from alliance.devtools.bench.scenarios import TRIVIAL, Scenario
from alliance.devtools.bench.synthetic import BenchClinic

# Requests made before timing: imports, template compilation and caches settle.
WARM_UP = 2
# Raw replays of a request's SQL, for its reference time.
REPLAYS = 10


@dataclass
class Result:
    scale: str
    scenario: str
    label: str
    url: str
    runs: int
    median_ms: float
    p95_ms: float
    min_ms: float
    queries: int
    kilobytes: float
    first_byte_ms: float | None = None  # median time to the first chunk of a streamed answer
    cpu_ms: float | None = None  # median CPU time of this process (Python), per request
    sql_ms: float | None = None  # the request's statements replayed raw (references.py)
    x_sql: float | None = None  # median_ms / sql_ms
    x_trivial: float | None = None  # median_ms / the trivial page's median_ms

    def as_dict(self) -> dict:
        return asdict(self)


def measure(bench: BenchClinic, scenario: Scenario, *, scale: str, repeat: int) -> Result:
    """Log in as the scenario's user (if any), warm up, count the queries of one request,
    replay its SQL raw, then time ``repeat`` requests (the whole Django stack, middleware
    and templates, no network). A form post gets a fresh link before each request."""
    # The trivial page's URLs; the client form's rate limit would stop the repeated posts.
    with override_settings(
        ROOT_URLCONF="alliance.devtools.bench.urls",
        ALLIANCE_FORM_RATE_LIMIT=sys.maxsize,
        ALLIANCE_FORM_ADDRESS_RATE_LIMIT=sys.maxsize,
    ):
        client = TestClient(HTTP_HOST="localhost")
        user = scenario.user(bench)
        if user is not None:
            client.force_login(user)
        url = scenario.url(bench)
        runs = scenario.repeat or repeat
        for _ in range(WARM_UP if scenario.warm_up is None else scenario.warm_up):
            _send(client, scenario, _prepare(scenario, bench, url))
        prepared = _prepare(scenario, bench, url)  # a form post's fresh link: not counted
        with CaptureQueriesContext(connection) as captured:
            _, size, _ = _send(client, scenario, prepared)
        # Read now: the next request's request_started signal clears the query log.
        queries = len(captured.captured_queries)
        sql_ms = _sql_reference(
            client, scenario, bench, url, captured.captured_queries, replays=min(REPLAYS, runs)
        )
        times, cpu, first_bytes = [], [], []
        for _ in range(runs):
            prepared = _prepare(scenario, bench, url)
            started, started_cpu = time.perf_counter(), time.process_time()
            _, _, first_byte = _send(client, scenario, prepared, started=started)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            if first_byte is not None:
                first_bytes.append(first_byte)
    median = statistics.median(times)
    return Result(
        scale=scale,
        scenario=scenario.name,
        label=scenario.label,
        url=url,
        runs=runs,
        median_ms=round(median, 1),
        p95_ms=round(float(np.percentile(times, 95)), 1),
        min_ms=round(min(times), 1),
        queries=queries,
        kilobytes=round(size / 1024, 1),
        first_byte_ms=round(statistics.median(first_bytes), 1) if first_bytes else None,
        cpu_ms=round(statistics.median(cpu), 1),
        sql_ms=None if sql_ms is None else round(sql_ms, 2),
        x_sql=round(median / sql_ms, 1) if sql_ms else None,
    )


def compare_with_trivial(results: list[Result]) -> None:
    """Set each result's x_trivial from the trivial page of its scale."""
    floor = {r.scale: r.median_ms for r in results if r.scenario == TRIVIAL}
    for result in results:
        if floor.get(result.scale):
            result.x_trivial = round(result.median_ms / floor[result.scale], 1)


def _prepare(scenario: Scenario, bench: BenchClinic, url: str) -> tuple[str, dict | None]:
    return scenario.post(bench) if scenario.post else (url, None)


def _send(
    client: TestClient,
    scenario: Scenario,
    prepared: tuple[str, dict | None],
    *,
    started: float | None = None,
) -> tuple:
    """(response, bytes, milliseconds from ``started`` to the first chunk of a streamed
    answer). A streamed answer is read to its end here (its queries run while it is sent),
    a chunk at a time: a clinic export at L is never held whole."""
    url, data = prepared
    started = time.perf_counter() if started is None else started
    response = client.get(url) if data is None else client.post(url, data)
    if response.status_code != scenario.expect:
        raise RuntimeError(f"{url} answered {response.status_code}, not {scenario.expect}")
    if not response.streaming:
        return response, len(response.content), None
    size, first_byte = 0, None
    for chunk in response.streaming_content:
        if first_byte is None:
            first_byte = (time.perf_counter() - started) * 1000
        size += len(chunk)
    return response, size, first_byte


def _sql_reference(
    client, scenario, bench, url, captured: list[dict], *, replays: int = REPLAYS
) -> float | None:
    """Median milliseconds of the request's statements replayed raw. A form post writes
    (its link can be used once): its statements are captured from one more post rolled
    back, and replayed rolled back too."""
    if scenario.post is not None:
        with transaction.atomic():
            prepared = _prepare(scenario, bench, url)
            with CaptureQueriesContext(connection) as again:
                _send(client, scenario, prepared)
            captured = again.captured_queries
            transaction.set_rollback(True)
    try:
        return references.replay_ms(references.replayable(captured), runs=replays)
    except DatabaseError:
        return None


def machine() -> dict:
    """Where the figures were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": f"{connection.vendor} {_database_version()}",
    }


def _database_version() -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("select sqlite_version()")
        else:
            cursor.execute("show server_version")
        return str(cursor.fetchone()[0])


def table(results: list[Result]) -> str:
    """The figures as a plain-text table."""
    head = (
        f"{'scale':5} {'page':42} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>7} {'queries':>8} "
        f"{'SQL ms':>7} {'x SQL':>6} {'x triv':>6} {'KB':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.scale:5} {r.label:42} {r.median_ms:>10.1f} {r.p95_ms:>8.1f} "
            f"{_figure(r.cpu_ms, 7, 1)} {r.queries:>8d} {_figure(r.sql_ms, 7, 1)} "
            f"{_figure(r.x_sql, 6, 1)} {_figure(r.x_trivial, 6, 1)} {r.kilobytes:>7.1f}"
        )
    return "\n".join(lines)


def _figure(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"
