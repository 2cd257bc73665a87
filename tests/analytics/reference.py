"""A plain-loop reference implementation of the rupture rules, written from the rule text.

It shares only ``validate_config`` (for default parameters) with ``alliance.analytics``: every
rule, the repair classification and the Student t critical values are computed here
independently, one series and one session at a time, so that the vectorised engine can be
checked against it on random data.
"""

import math
from collections import defaultdict
from typing import Any

import pandas as pd

from alliance.analytics import validate_config

EPS = 1e-9
RATERS = ("client", "therapist")
DROP_RULES = ("reliable_drop", "below_baseline", "sudden_loss")


def t_density(t: float, df: int) -> float:
    """Student t probability density."""
    constant = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    return constant * (1 + t * t / df) ** (-(df + 1) / 2)


def central_probability(t: float, df: int, steps: int = 2_000) -> float:
    """P(|T| <= t) by Simpson's rule on the density over [0, t], doubled."""
    h = t / steps
    total = t_density(0.0, df) + t_density(t, df)
    for i in range(1, steps):
        total += (4 if i % 2 else 2) * t_density(i * h, df)
    return 2 * total * h / 3


def t_critical(alpha: float, df: int) -> float:
    """Two-tailed critical value by bisection on the numerically integrated distribution."""
    low, high = 0.0, 100.0
    for _ in range(50):
        middle = (low + high) / 2
        if central_probability(middle, df) < 1 - alpha:
            low = middle
        else:
            high = middle
    return (low + high) / 2


_T_CACHE: dict[tuple[float, int], float] = {}


def cached_t(alpha: float, df: int) -> float:
    if (alpha, df) not in _T_CACHE:
        _T_CACHE[(alpha, df)] = t_critical(alpha, df)
    return _T_CACHE[(alpha, df)]


def mean_sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    variance = sum((value - mean) ** 2 for value in values) / (len(values) - 1)
    return mean, math.sqrt(variance)


def repair(
    values: dict[int, float], flagged: int, level: float, window: int, last: int
) -> tuple[str, int | None]:
    for session in range(flagged + 1, flagged + window + 1):
        if session in values and values[session] >= level - EPS:
            return "repaired", session
    return ("unrepaired" if last >= flagged + window else "pending"), None


def reference_detect(scores: pd.DataFrame, config: dict[str, Any] | None = None) -> pd.DataFrame:
    """Flags as ``detect`` returns them (explanations left empty), computed with plain loops."""
    cfg = validate_config(config)
    series: dict[tuple, dict[int, float]] = {}
    known: dict[Any, set[int]] = defaultdict(set)
    for row in scores.itertuples(index=False):
        session = int(row.session)
        known[row.client].add(session)
        values = series.setdefault((row.client, row.rater, row.scale), {})
        if not math.isnan(row.score):
            values[session] = float(row.score)

    flags: list[dict[str, Any]] = []

    def add(client, rater, scale, session, rule, magnitude, status=None, repaired=None):
        flags.append(
            {
                "client": client,
                "rater": rater,
                "scale": scale,
                "session": session,
                "rule": rule,
                "magnitude": magnitude,
                "repair_status": status,
                "repaired_session": repaired,
            }
        )

    norms = cfg["norms"]
    for (client, rater, scale), values in series.items():
        if scale == "tension":
            continue
        last = max(known[client])
        first = min(known[client])
        norm = norms.get(rater, {}).get(scale)

        if norm and cfg["reliable_drop"]["enabled"] and scale in cfg["reliable_drop"]["scales"]:
            params = cfg["reliable_drop"]
            rc = 1.96 * math.sqrt(2) * norm["sd"] * math.sqrt(1 - norm["reliability"])
            for n in range(first, last):
                if n in values and n + 1 in values:
                    drop = values[n] - values[n + 1]
                    if drop >= rc - EPS:
                        status, at = repair(values, n + 1, values[n], params["repair_window"], last)
                        add(client, rater, scale, n + 1, "reliable_drop", drop, status, at)

        if norm and cfg["below_baseline"]["enabled"] and scale in cfg["below_baseline"]["scales"]:
            params = cfg["below_baseline"]
            below: dict[int, bool] = {}
            baseline: dict[int, float] = {}
            for t in range(first, last + 1):
                prior = [values[s] for s in range(first, t) if s in values]
                below[t] = False
                if t in values and len(prior) >= params["min_prior"]:
                    mean, own_sd = mean_sd(prior)
                    spread = max(own_sd, norm["sd"])
                    below[t] = values[t] < mean - params["k"] * spread - EPS
                    baseline[t] = mean
            for t in range(first, last + 1):
                if below[t] and not below.get(t - 1, False):
                    level = baseline[t]
                    status, at = repair(values, t, level, params["repair_window"], last)
                    add(client, rater, scale, t, "below_baseline", level - values[t], status, at)

        params = cfg["sudden_loss"]
        cutoff = params["cutoff"]
        if cutoff is None and norm:
            cutoff = 1.96 * math.sqrt(2) * norm["sd"] * math.sqrt(1 - norm["reliability"])
        if params["enabled"] and cutoff is not None and scale in params["scales"]:
            for n in range(first, last):
                if n not in values or n + 1 not in values or last < n + 3:
                    continue
                drop = values[n] - values[n + 1]
                if drop < cutoff - EPS or drop < params["pct"] * values[n] - EPS:
                    continue
                pre = [values[s] for s in (n - 2, n - 1, n) if s in values]
                post = [values[s] for s in (n + 1, n + 2, n + 3) if s in values]
                if len(pre) < 2 or len(post) < 2:
                    continue
                mean_pre, sd_pre = mean_sd(pre)
                mean_post, sd_post = mean_sd(post)
                df = len(pre) + len(post) - 2
                pooled = math.sqrt(((len(pre) - 1) * sd_pre**2 + (len(post) - 1) * sd_post**2) / df)
                if mean_pre - mean_post > cached_t(params["alpha"], df) * pooled + EPS:
                    status, at = repair(values, n + 1, values[n], params["repair_window"], last)
                    add(client, rater, scale, n + 1, "sudden_loss", drop, status, at)

        params = cfg["low_alliance"]
        cut = params["cutoffs"].get(rater, {}).get(scale)
        if cut is None:
            cut = cfg["cutoffs"].get(rater, {}).get(scale)
        if params["enabled"] and cut is not None:
            for t in range(first, last + 1):
                now = t in values and values[t] < cut - EPS
                before = t - 1 in values and values[t - 1] < cut - EPS
                if now and not before:
                    add(client, rater, scale, t, "low_alliance", cut - values[t])

    params = cfg["rater_discrepancy"]
    if params["enabled"]:
        for (client, rater, scale), values in series.items():
            client_norm = norms.get("client", {}).get(scale)
            therapist_norm = norms.get("therapist", {}).get(scale)
            if rater != "client" or scale not in params["scales"]:
                continue
            if not client_norm or not therapist_norm:
                continue
            therapist = series.get((client, "therapist", scale), {})
            sd = (client_norm["sd"] + therapist_norm["sd"]) / 2
            for session, client_score in values.items():
                if session not in therapist:
                    continue
                d = (therapist[session] - client_score) / sd
                gap = abs(therapist[session] - client_score)
                if d >= params["threshold"] - EPS:
                    add(client, "client", scale, session, "rater_discrepancy", gap)
                elif params["direction"] == "both" and -d >= params["threshold"] - EPS:
                    add(client, "therapist", scale, session, "rater_discrepancy", gap)

    if cfg["client_reported_tension"]["enabled"]:
        for (client, rater, scale), values in series.items():
            if rater == "client" and scale == "tension":
                for session, value in values.items():
                    if value >= 1 - EPS:
                        add(client, "client", "tension", session, "client_reported_tension", 1.0)

    params = cfg["ceiling"]
    maximum = cfg["scale_range"].get("client", {}).get("max")
    if params["enabled"] and maximum is not None:
        for (client, rater, scale), values in series.items():
            if rater == "client" and scale == "total":
                sessions = range(1, params["sessions"] + 1)
                if all(s in values and abs(values[s] - maximum) <= EPS for s in sessions):
                    add(
                        client, "client", "total", params["sessions"], "ceiling", params["sessions"]
                    )

    params = cfg["missing_forms"]
    if params["enabled"]:
        for client, sessions in known.items():
            forms = series.get((client, "client", "total"), {})
            run: list[int] = []
            for session in [*sorted(sessions), None]:
                if session is not None and session not in forms:
                    run.append(session)
                    continue
                if len(run) >= params["sessions"]:
                    add(client, "client", "total", run[params["sessions"] - 1], "missing_forms",
                        float(len(run)))  # fmt: skip
                run = []

    columns = (
        "client",
        "rater",
        "scale",
        "session",
        "rule",
        "magnitude",
        "repair_status",
        "repaired_session",
    )
    # Object columns keep None as None (pandas 3 would turn it into NaN in a str column).
    frame = pd.DataFrame(
        {column: pd.Series([flag[column] for flag in flags], dtype=object) for column in columns}
    )
    return frame.sort_values(["client", "rater", "scale", "session", "rule"]).reset_index(drop=True)
