"""Benchmark of ``detect`` on a synthetic clinic: ``python -m alliance.analytics.bench [rows]``."""

import resource
import sys
import time
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


def synthetic_scores(n_rows: int = 1_000_000, seed: int = 0) -> pd.DataFrame:
    """A scores frame of exactly ``n_rows`` rows that looks like a clinic's data.

    Each client has 6-40 sessions; per session the client rates bond, goal, task, total and
    the tension item, the therapist the four scales. Scores are means of 6 items on 1-5
    (steps of 1/6) around a client-specific level with session noise, occasional ruptures
    (a drop of 1-2 points that fades over 3 sessions), some cancelled sessions (no rows),
    some sessions without a client form (NaN client scores) and early ceiling ratings.
    """
    rng = np.random.default_rng(seed)
    rows_per_session = 2 * len(SCALES) + 1
    n_clients = max(1, n_rows // (rows_per_session * 20) + 1)
    sessions = rng.integers(6, 41, size=n_clients)
    client = np.repeat(np.arange(n_clients), sessions)
    session = np.arange(client.size) - np.repeat(np.cumsum(sessions) - sessions, sessions) + 1

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

    frames = []
    for rater, offset in (("client", 0.2), ("therapist", -0.1)):
        for scale in SCALES:
            noise = rng.normal(0.0, 0.25, client.size)
            score = np.clip(np.round((level + offset - dip + noise) * 6) / 6, 1.0, 5.0)
            if rater == "client":
                score = np.where(ceiling, 5.0, score)
            frames.append((rater, scale, score))
    tension = np.where(rng.random(client.size) < 0.05 + 0.3 * (rupture > 0), 1.0, 0.0)
    frames.append(("client", "tension", tension))

    no_form = rng.random(client.size) < 0.07
    cancelled = rng.random(client.size) < 0.05
    parts = []
    for rater, scale, score in frames:
        score = np.where(no_form & (rater == "client"), np.nan, score)
        parts.append(
            pd.DataFrame(
                {
                    "client": client[~cancelled],
                    "rater": rater,
                    "scale": scale,
                    "session": session[~cancelled],
                    "score": score[~cancelled],
                }
            )
        )
    scores = pd.concat(parts, ignore_index=True)
    while len(scores) < n_rows:
        # Too few rows for the target: add another synthetic clinic with new client ids.
        extra = synthetic_scores(n_rows - len(scores), seed + 1)
        extra["client"] += int(scores["client"].max()) + 1
        scores = pd.concat([scores, extra], ignore_index=True)
    # Rows in session order per client, so trimming to n_rows cuts only the last client short.
    order = np.lexsort((scores["session"].to_numpy(), scores["client"].to_numpy()))
    return scores.take(order[:n_rows]).reset_index(drop=True)


def bench_detect(n_rows: int = 1_000_000, seed: int = 0) -> dict[str, float | int]:
    """Time ``detect`` with every rule on ``n_rows`` synthetic score rows.

    Output: {"rows", "seconds", "flags", "rows_per_second"}; building the frame is not timed.
    """
    scores = synthetic_scores(n_rows, seed)
    started = time.perf_counter()
    flags = detect(scores, BENCH_CONFIG)
    seconds = time.perf_counter() - started
    return {
        "rows": len(scores),
        "seconds": round(seconds, 3),
        "flags": len(flags),
        "rows_per_second": round(len(scores) / seconds),
    }


if __name__ == "__main__":
    result = bench_detect(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    # ru_maxrss is in KiB on Linux: the process's peak resident memory, input frame included.
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(", ".join(f"{key}: {value}" for key, value in result.items()), end="")
    print(f", peak_rss_mib: {peak_mib:.0f}")
