"""Time requests with Django's test client: median and p95 server time, SQL queries."""

import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass

import django
import numpy as np
from django.db import connection
from django.test import Client as TestClient
from django.test.utils import CaptureQueriesContext

from alliance.bench.scenarios import Scenario
from alliance.bench.synthetic import BenchClinic

# Requests made before timing: imports, template compilation and caches settle.
WARM_UP = 2


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

    def as_dict(self) -> dict:
        return asdict(self)


def measure(bench: BenchClinic, scenario: Scenario, *, scale: str, repeat: int) -> Result:
    """Log in as the scenario's user, warm up, count the queries of one request, then time
    ``repeat`` requests (the whole Django stack, middleware and templates, no network)."""
    client = TestClient(HTTP_HOST="localhost")
    client.force_login(scenario.user(bench))
    url = scenario.url(bench)
    for _ in range(WARM_UP):
        _get(client, url)
    with CaptureQueriesContext(connection) as captured:
        response = _get(client, url)
    # Read now: the next request's request_started signal clears the query log.
    queries = len(captured.captured_queries)
    runs = scenario.repeat or repeat
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        _get(client, url)
        times.append((time.perf_counter() - started) * 1000)
    return Result(
        scale=scale,
        scenario=scenario.name,
        label=scenario.label,
        url=url,
        runs=runs,
        median_ms=round(statistics.median(times), 1),
        p95_ms=round(float(np.percentile(times, 95)), 1),
        min_ms=round(min(times), 1),
        queries=queries,
        kilobytes=round(len(response.content) / 1024, 1),
    )


def _get(client: TestClient, url: str):
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return response


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
    head = f"{'scale':5} {'page':42} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'KB':>7}"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.scale:5} {r.label:42} {r.median_ms:>10.1f} {r.p95_ms:>8.1f} "
            f"{r.queries:>8d} {r.kilobytes:>7.1f}"
        )
    return "\n".join(lines)
