"""manage.py bench --scale S|M [--json bench/results.json]: time the dashboards on a
synthetic clinic built in a database of the benchmark's own (see alliance/bench)."""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from django.utils import timezone

from alliance.bench import runner
from alliance.bench.database import bench_database
from alliance.bench.scenarios import SCENARIOS
from alliance.bench.synthetic import SCALES, build_clinic


class Command(BaseCommand):
    help = (
        "Build a synthetic clinic (S: 50 clients, M: 1,000 clients, ~30,000 sessions) in its "
        "own database (a temporary SQLite file, or <name>_bench on PostgreSQL), time the "
        "dashboards with the test client and print median and p95 server time and SQL "
        "queries per request."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            action="append",
            choices=sorted(SCALES),
            help="S (50 clients) or M (1,000 clients); repeat for both. Default: S.",
        )
        parser.add_argument(
            "--json",
            dest="json_path",
            help="Also write the figures here (e.g. bench/results.json).",
        )
        parser.add_argument(
            "--repeat", type=int, default=20, help="Timed requests per page (default 20)."
        )
        parser.add_argument(
            "--scenario",
            action="append",
            choices=[s.name for s in SCENARIOS],
            help="Only these pages (repeatable). Default: all.",
        )

    def handle(self, *args, scale, json_path: str | None, repeat: int, scenario, **options):
        if repeat < 1:
            raise CommandError("--repeat must be at least 1.")
        scales = scale or ["S"]
        scenarios = [s for s in SCENARIOS if not scenario or s.name in scenario]
        report = {"created_at": timezone.now().isoformat(timespec="seconds"), "scales": {}}
        results = []
        # DEBUG off as in production (no query log kept); the test client's host allowed.
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["localhost"]):
            for name in scales:
                with bench_database() as database:
                    self.stdout.write(f"Scale {name}: building the clinic in {database} ...")
                    started = time.perf_counter()
                    bench = build_clinic(SCALES[name])
                    self.stdout.write(
                        "  "
                        + ", ".join(f"{count:,} {what}" for what, count in bench.counts.items())
                        + f" in {time.perf_counter() - started:.1f} s"
                    )
                    report.setdefault("machine", runner.machine())
                    found = [runner.measure(bench, s, scale=name, repeat=repeat) for s in scenarios]
                    results += found
                    report["scales"][name] = {
                        "clinic": bench.counts,
                        "build_seconds": {k: round(v, 2) for k, v in bench.seconds.items()},
                        "results": [r.as_dict() for r in found],
                    }
        machine = report["machine"]
        self.stdout.write(
            f"\nMachine: {machine['cpu']} ({machine['cpus']} CPUs), Python {machine['python']}, "
            f"Django {machine['django']}, {machine['database']}"
        )
        self.stdout.write(runner.table(results))
        if json_path:
            path = Path(json_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
            self.stdout.write(f"Written to {path}")
