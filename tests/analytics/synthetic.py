"""Random clinic data and rule settings for comparing the engine with the reference."""

from typing import Any

import numpy as np
import pandas as pd

SCALES = ("bond", "total")


def random_scores(seed: int, n_clients: int = 25) -> pd.DataFrame:
    """Scores on a 1/4-point grid with ruptures, cancelled sessions and missing forms.

    Clients start at session 1-3, have 1-16 sessions, and some have only therapist rows or
    ceiling ratings at the start.
    """
    rng = np.random.default_rng(seed)
    rows: list[tuple[Any, str, str, int, float]] = []
    for client in range(n_clients):
        first = int(rng.integers(1, 4))
        sessions = range(first, first + int(rng.integers(1, 17)))
        level = rng.uniform(2.5, 4.5)
        only_therapist = rng.random() < 0.1
        ceiling = rng.random() < 0.2
        for session in sessions:
            if rng.random() < 0.1:
                continue  # cancelled: no row at all
            dip = rng.choice([0.0, 0.0, 0.0, 0.0, 1.0, 1.5, 2.0])
            no_form = rng.random() < 0.15
            for rater in ("client", "therapist"):
                if rater == "client" and only_therapist:
                    continue
                for scale in SCALES:
                    score = level - dip + rng.normal(0, 0.4) + (0.3 if rater == "client" else 0)
                    score = float(np.clip(np.round(score * 4) / 4, 1.0, 5.0))
                    if rater == "client" and ceiling and session <= 3:
                        score = 5.0
                    if (rater == "client" and no_form) or rng.random() < 0.05:
                        score = np.nan
                    rows.append((client, rater, scale, session, score))
            if not only_therapist:
                tension = np.nan if no_form else float(rng.random() < 0.2 + 0.3 * (dip > 0))
                rows.append((client, "client", "tension", session, tension))
    frame = pd.DataFrame(rows, columns=["client", "rater", "scale", "session", "score"])
    # Row order must not matter.
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def random_config(seed: int) -> dict[str, Any]:
    """Rule settings drawn at random, with norms for all but the therapist's bond scale."""
    rng = np.random.default_rng(seed + 1000)
    norm = {"sd": float(rng.uniform(0.4, 0.9)), "reliability": float(rng.uniform(0.7, 0.9))}
    return {
        "norms": {
            "client": {
                "total": {**norm, "source": "instrument norms"},
                "bond": {"sd": 0.7, "reliability": 0.8, "source": "clinic data (40 clients)"},
            },
            "therapist": {"total": {**norm, "source": "instrument norms"}, "bond": {}},
        },
        "scale_range": {"client": {"min": 1.0, "max": 5.0}},
        "cutoffs": {"client": {"total": 3.0}, "therapist": {"bond": 2.75}},
        "reliable_drop": {"repair_window": int(rng.integers(1, 5))},
        "below_baseline": {
            "k": float(rng.choice([1.0, 2.0])),
            "min_prior": int(rng.integers(2, 5)),
            "repair_window": int(rng.integers(1, 5)),
        },
        "sudden_loss": {
            "cutoff": None if rng.random() < 0.5 else 0.75,
            "pct": float(rng.choice([0.1, 0.25])),
            "alpha": float(rng.choice([0.05, 0.01])),
            "repair_window": int(rng.integers(1, 5)),
        },
        "low_alliance": {"cutoffs": {"therapist": {"total": 2.5}}},
        "rater_discrepancy": {
            "threshold": float(rng.choice([0.5, 1.0])),
            "direction": str(rng.choice(["therapist_higher", "both"])),
            "scales": ["total", "bond"] if rng.random() < 0.5 else ["total"],
        },
        "ceiling": {"sessions": int(rng.integers(1, 4))},
        "missing_forms": {"sessions": int(rng.integers(1, 4))},
    }
