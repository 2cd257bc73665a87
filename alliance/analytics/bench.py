"""Benchmarks of ``detect`` on synthetic clinics.

``python -m alliance.analytics.bench [rows]`` prints speed on ``rows`` score rows (default
1,000,000); ``python -m alliance.analytics.bench memory [clients] [sessions]`` prints speed and
peak memory on complete courses (default 20,000 clients x 30 sessions x 2 raters x 5 scales).
"""

import resource
import sys
import time
import tracemalloc
from typing import Any

import numpy as np
import pandas as pd

from alliance.analytics.engine import detect

SCALES = ("bond", "goal", "task", "total")

# Norms of the same order as short WAI-style forms on a 1-5 scale.
BENCH_CONFIG: dict[str, Any] = {
    "norms": {
        rater: {
            scale: {"sd": 0.6, "reliability": 0.85, "source": "instrument norms"}
            for scale in SCALES
        }
        for rater in ("client", "therapist")
    },
    "scale_range": {"client": {"min": 1.0, "max": 5.0}, "therapist": {"min": 1.0, "max": 5.0}},
    "cutoffs": {"client": {"total": 3.0}, "therapist": {"total": 3.0}},
    "rater_discrepancy": {"direction": "both"},
}


def _clinic(
    client: np.ndarray,
    session: np.ndarray,
    rng: np.random.Generator,
    tension_raters: tuple[str, ...],
) -> pd.DataFrame:
    """Scores for the given (client, session) rows, one frame row per rater and scale.

    Scores are means of 6 items on 1-5 (steps of 1/6) around a client-specific level with
    session noise, occasional ruptures (a drop of 1-2 points that fades over 3 sessions), some
    sessions without a client form (NaN client scores) and ceiling ratings early on for a few
    clients. ``tension_raters`` also answer the yes/no tension item.
    """
    n_clients = int(client.max()) + 1
    level = rng.uniform(3.2, 4.8, size=n_clients)[client]
    # A rupture at a session lowers that session by its size and the next two by less.
    rupture = np.where(rng.random(client.size) < 0.04, rng.uniform(1.0, 2.0, client.size), 0.0)
    dip = rupture.copy()
    for lag, weight in ((1, 0.6), (2, 0.3)):
        later = np.zeros_like(rupture)
        later[lag:] = rupture[:-lag]
        later[session <= lag] = 0.0
        dip += weight * later
    ceiling = (rng.random(n_clients) < 0.05)[client] & (session <= 3)
    no_form = rng.random(client.size) < 0.07

    parts = []
    for rater, offset in (("client", 0.2), ("therapist", -0.1)):
        scales = SCALES + (("tension",) if rater in tension_raters else ())
        for scale in scales:
            if scale == "tension":
                chance = 0.05 + 0.3 * (rupture > 0)
                score = np.where(rng.random(client.size) < chance, 1.0, 0.0)
            else:
                noise = rng.normal(0.0, 0.25, client.size)
                score = np.clip(np.round((level + offset - dip + noise) * 6) / 6, 1.0, 5.0)
                if rater == "client":
                    score = np.where(ceiling, 5.0, score)
            if rater == "client":
                score = np.where(no_form, np.nan, score)
            parts.append(
                pd.DataFrame(
                    {
                        "client": client,
                        "rater": rater,
                        "scale": scale,
                        "session": session,
                        "score": score,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def synthetic_scores(n_rows: int = 1_000_000, seed: int = 0) -> pd.DataFrame:
    """A scores frame of exactly ``n_rows`` rows that looks like a clinic's data.

    Each client has 6-40 sessions, 5% of them cancelled (no rows); per session the client rates
    bond, goal, task, total and the tension item, the therapist the four scales (see
    ``_clinic`` for the scores).
    """
    rng = np.random.default_rng(seed)
    rows_per_session = 2 * len(SCALES) + 1
    n_clients = max(1, n_rows // (rows_per_session * 20) + 1)
    sessions = rng.integers(6, 41, size=n_clients)
    client = np.repeat(np.arange(n_clients), sessions)
    session = np.arange(client.size) - np.repeat(np.cumsum(sessions) - sessions, sessions) + 1
    held = rng.random(client.size) >= 0.05
    scores = _clinic(client[held], session[held], rng, ("client",))
    while len(scores) < n_rows:
        # Too few rows for the target: add another synthetic clinic with new client ids.
        extra = synthetic_scores(n_rows - len(scores), seed + 1)
        extra["client"] += int(scores["client"].max()) + 1
        scores = pd.concat([scores, extra], ignore_index=True)
    # Rows in session order per client, so trimming to n_rows cuts only the last client short.
    order = np.lexsort((scores["session"].to_numpy(), scores["client"].to_numpy()))
    return scores.take(order[:n_rows]).reset_index(drop=True)


def course_scores(n_clients: int = 20_000, n_sessions: int = 30, seed: int = 0) -> pd.DataFrame:
    """Complete courses: every client has sessions 1..n_sessions and both raters answer the
    four scales and the tension item (2 x 5 rows per session), as in the memory target."""
    rng = np.random.default_rng(seed)
    client = np.repeat(np.arange(n_clients), n_sessions)
    session = np.tile(np.arange(1, n_sessions + 1), n_clients)
    return _clinic(client, session, rng, ("client", "therapist"))


def _timed(scores: pd.DataFrame) -> dict[str, float | int]:
    started = time.perf_counter()
    flags = detect(scores, BENCH_CONFIG)
    seconds = time.perf_counter() - started
    return {
        "rows": len(scores),
        "seconds": round(seconds, 3),
        "flags": len(flags),
        "rows_per_second": round(len(scores) / seconds),
    }


def bench_detect(n_rows: int = 1_000_000, seed: int = 0) -> dict[str, float | int]:
    """Time ``detect`` with every rule on ``n_rows`` synthetic score rows.

    Output: {"rows", "seconds", "flags", "rows_per_second"}; building the frame is not timed.
    """
    return _timed(synthetic_scores(n_rows, seed))


def bench_memory(
    n_clients: int = 20_000, n_sessions: int = 30, seed: int = 0
) -> dict[str, float | int]:
    """Time ``detect`` on complete courses and measure the memory it allocates.

    Output: the figures of ``bench_detect`` plus "input_mib" (the scores frame, deep) and
    "peak_detect_mib" (peak memory allocated by ``detect`` on top of its input, traced with
    tracemalloc, which numpy and pandas report to; tracing slows the run a little).
    """
    scores = course_scores(n_clients, n_sessions, seed)
    tracemalloc.start()
    try:
        result = _timed(scores)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {
        **result,
        "input_mib": round(scores.memory_usage(deep=True).sum() / 2**20),
        "peak_detect_mib": round(peak / 2**20),
    }


def _main(arguments: list[str]) -> None:
    if arguments[:1] == ["memory"]:
        numbers = [int(argument) for argument in arguments[1:3]]
        result = bench_memory(*numbers)
    else:
        result = bench_detect(int(arguments[0]) if arguments else 1_000_000)
    # ru_maxrss is in KiB on Linux: the process's peak resident memory, input frame included.
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(", ".join(f"{key}: {value}" for key, value in result.items()))


if __name__ == "__main__":
    _main(sys.argv[1:])
