"""The rupture engine over the whole synthetic clinic: reading the scores, ``detect`` on
every row at once (time and peak memory), and a clinic-wide flag refresh (rows per second).
"""

import resource
import time
import tracemalloc
from dataclasses import asdict, dataclass

import pandas as pd

from alliance.analytics import detect
from alliance.devtools.bench.synthetic import BenchClinic
from alliance.flags import selectors as flag_selectors
from alliance.flags import services as flag_services
from alliance.models import Client

# Clients per scores_frame query when reading the whole clinic (as the refresh batches do).
READ_BATCH = 2000


@dataclass
class EngineResult:
    scale: str
    rows: int  # scores-frame rows of the whole clinic
    clients: int
    read_seconds: float  # scores_frame for every client, in batches
    detect_seconds: float
    detect_rows_per_second: int
    detect_peak_mib: float  # allocated by detect on top of its input (tracemalloc)
    input_mib: float  # the scores frame, deep
    flags: int
    refresh_seconds: float  # flags_refresh_for_clinic: read, detect, upsert, per batch
    refresh_rows_per_second: int
    process_peak_rss_mib: float

    def as_dict(self) -> dict:
        return asdict(self)


def measure_engine(bench: BenchClinic, *, scale: str) -> EngineResult:
    ids = list(
        Client.objects.filter(clinic=bench.clinic).order_by("pk").values_list("pk", flat=True)
    )
    started = time.perf_counter()
    parts = [
        flag_selectors.scores_frame(Client.objects.filter(pk__in=ids[i : i + READ_BATCH])).scores
        for i in range(0, len(ids), READ_BATCH)
    ]
    # Batches have categories of their own: the concatenation is unified again.
    scores = pd.concat(parts, ignore_index=True).astype({"rater": "category", "scale": "category"})
    del parts
    read = time.perf_counter() - started
    config = flag_selectors.flag_config_for_clinic(bench.clinic)

    started = time.perf_counter()
    flags = detect(scores, config)
    seconds = time.perf_counter() - started
    # Memory in a second run: tracing slows allocation-heavy code.
    tracemalloc.start()
    try:
        detect(scores, config)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    refresh = flag_services.flags_refresh_for_clinic(clinic=bench.clinic)
    return EngineResult(
        scale=scale,
        rows=len(scores),
        clients=len(ids),
        read_seconds=round(read, 2),
        detect_seconds=round(seconds, 2),
        detect_rows_per_second=round(len(scores) / seconds) if seconds else 0,
        detect_peak_mib=round(peak / 2**20, 1),
        input_mib=round(scores.memory_usage(deep=True).sum() / 2**20, 1),
        flags=len(flags),
        refresh_seconds=round(refresh.seconds, 2),
        refresh_rows_per_second=round(refresh.rows / refresh.seconds) if refresh.seconds else 0,
        # ru_maxrss is KiB on Linux: the benchmark process's peak so far, everything included.
        process_peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    )


def engine_table(results: list[EngineResult]) -> str:
    head = (
        f"{'scale':5} {'rows':>10} {'read s':>7} {'detect s':>9} {'rows/s':>10} "
        f"{'peak MiB':>9} {'input MiB':>10} {'flags':>8} {'refresh s':>10} {'rows/s':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.scale:5} {r.rows:>10,} {r.read_seconds:>7.2f} {r.detect_seconds:>9.2f} "
            f"{r.detect_rows_per_second:>10,} {r.detect_peak_mib:>9.1f} {r.input_mib:>10.1f} "
            f"{r.flags:>8,} {r.refresh_seconds:>10.2f} {r.refresh_rows_per_second:>9,}"
        )
    return "\n".join(lines)
