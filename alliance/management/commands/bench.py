"""manage.py bench --scale S|M|L [--json bench/results.json]: time the pages, the client
form and the rupture engine on a synthetic clinic built in a database of the benchmark's
own (see alliance/bench)."""

import gc
import json
import time
import warnings
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from django.urls import get_resolver
from django.utils import timezone

from alliance.devtools.bench import runner
from alliance.devtools.bench.database import bench_copy, bench_database, kept_clinic
from alliance.devtools.bench.database import keep as keep_clinic
from alliance.devtools.bench.engine import engine_table, measure_engine
from alliance.devtools.bench.scenarios import SCENARIOS
from alliance.devtools.bench.synthetic import SCALES, build_clinic, load_clinic


class Command(BaseCommand):
    help = (
        "Build a synthetic clinic (S: 50 clients, M: 1,000 clients, ~30,000 sessions, L: "
        "20,000 clients, ~600,000 sessions) in its own database (a temporary SQLite file, or "
        "<name>_bench on PostgreSQL), time the pages and the client form with the test "
        "client (median and p95 server time, SQL queries per request, against the page's "
        "SQL replayed raw and a trivial page) and the rupture engine over every row."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            action="append",
            choices=sorted(SCALES),
            help="S (50 clients), M (1,000) or L (20,000); repeatable. Default: S.",
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
        parser.add_argument(
            "--keep",
            action="store_true",
            help=(
                "Keep the built clinic (a template database <name>_bench_<scale> on "
                "PostgreSQL, var/bench-<scale>.sqlite3 on SQLite) and start from a copy of it "
                "when it is there, instead of building again. Each run measures a fresh copy."
            ),
        )
        parser.add_argument(
            "--no-engine",
            dest="engine",
            action="store_false",
            help="Skip the rupture engine figures (detect and refresh over the whole clinic).",
        )

    def handle(
        self,
        *args,
        scale,
        json_path: str | None,
        repeat: int,
        scenario,
        engine: bool,
        keep: bool,
        **options,
    ):
        if repeat < 1:
            raise CommandError("--repeat must be at least 1.")
        scales = scale or ["S"]
        scenarios = [s for s in SCENARIOS if not scenario or s.name in scenario]
        report = {"created_at": timezone.now().isoformat(timespec="seconds"), "scales": {}}
        results, engines = [], []
        # WhiteNoise warns once per request handler when collectstatic has not run; the
        # benchmark serves no static files.
        warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers")
        # DEBUG off as in production (no query log kept); the test client's host allowed.
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["localhost"]):
            for name in scales:
                kept = kept_clinic(name)
                built = kept.report() if keep else None
                with bench_copy(kept) if built else bench_database() as database:
                    started = time.perf_counter()
                    if built:
                        self.stdout.write(f"Scale {name}: a copy of {kept.copy} in {database}")
                        bench = load_clinic(SCALES[name], built)
                    else:
                        self.stdout.write(f"Scale {name}: building the clinic in {database} ...")
                        bench = build_clinic(SCALES[name])
                    self.stdout.write(
                        "  "
                        + ", ".join(f"{count:,} {what}" for what, count in bench.counts.items())
                        + f" in {time.perf_counter() - started:.1f} s"
                    )
                    if keep and not built:
                        started = time.perf_counter()
                        keep_report = {"counts": bench.counts, "seconds": bench.seconds}
                        keep_clinic(kept, keep_report)
                        self.stdout.write(
                            f"  kept as {kept.copy} in {time.perf_counter() - started:.1f} s"
                        )
                    report.setdefault("machine", runner.machine())
                    # As a server worker starts (gunicorn.conf.py, when_ready): what is
                    # loaded so far is hidden from the cyclic garbage collector.
                    get_resolver().url_patterns  # noqa: B018 (imports the views)
                    gc.collect()
                    gc.freeze()
                    try:
                        found = [
                            runner.measure(bench, s, scale=name, repeat=repeat) for s in scenarios
                        ]
                    finally:
                        gc.unfreeze()
                    runner.compare_with_trivial(found)
                    results += found
                    report["scales"][name] = {
                        "clinic": bench.counts,
                        # A kept clinic's build was an earlier run's: this one copied it.
                        "copied_from": kept.copy if built else None,
                        "build_seconds": {k: round(v, 2) for k, v in bench.seconds.items()},
                        "results": [r.as_dict() for r in found],
                    }
                    if engine:
                        engines.append(measure_engine(bench, scale=name))
                        report["scales"][name]["engine"] = engines[-1].as_dict()
        machine = report["machine"]
        self.stdout.write(
            f"\nMachine: {machine['cpu']} ({machine['cpus']} CPUs), Python {machine['python']}, "
            f"Django {machine['django']}, {machine['database']}"
        )
        self.stdout.write(runner.table(results))
        if engines:
            self.stdout.write("\nRupture engine over the whole clinic")
            self.stdout.write(engine_table(engines))
        if json_path:
            path = Path(json_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
            self.stdout.write(f"Written to {path}")
