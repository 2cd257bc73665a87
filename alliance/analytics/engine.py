"""The public entry point: a scores frame in, a flags frame out."""

from typing import Any

import pandas as pd

from alliance.analytics.config import RULE_NAMES, validate_config
from alliance.analytics.frames import assemble, build_grid, empty_flags
from alliance.analytics.rules import RULES, RuleContext


def detect(scores: pd.DataFrame, config: dict[str, Any] | None = None) -> pd.DataFrame:
    """Run every enabled rupture and signal rule over every client's score series.

    Input ``scores``: one row per (client, rater, scale, session) with the columns
    ``client`` (any hashable id), ``rater`` ("client" or "therapist"), ``scale`` (str:
    "bond", "goal", "task", "total", ..., and "tension", the client's yes/no tension item,
    used only by client_reported_tension), ``session`` (the session's position, a whole
    number >= 1: its place among the client's held sessions in the order they took place)
    and ``score`` (float; NaN or an absent row means missing at that position); optionally
    ``number`` (whole number >= 1, increasing with the position: the session number the
    clinician sees, used only in explanations; the position when absent). A position is
    "known" for a client when any row names it, even with NaN: known positions set the end of
    the grid, the post window of sudden_loss, repair windows and missing_forms. Every rule
    and window counts positions (the literature indexes the sessions that took place:
    Tang & DeRubeis 1999; Jacobson & Truax 1991 compare consecutive assessments).
    Input ``config``: see ``validate_config`` and ``DEFAULTS``; None means the defaults.

    Output: one row per flag with the columns client (the caller's ids, dtype as given),
    rater, scale (object str), session (int64; the position whose score shows the signal),
    rule (object str), magnitude (float64, positive), explanation (object str, an English
    sentence with the numbers), repair_status (object: "repaired", "unrepaired", "pending", or
    None for rules without repair) and repaired_session (pandas nullable Int64, a position,
    <NA> unless repaired). Rows are sorted by client, rater, scale, session, rule; clients
    sort by their own order when they are mutually comparable and by first appearance
    otherwise.

    Raises ``ValueError`` for an invalid config or malformed scores (see ``build_grid``).
    Rule definitions and sources are in ``rules`` and docs/ruptures.md.
    """
    merged = validate_config(config)
    if len(scores) == 0:
        return empty_flags()
    grid = build_grid(scores)
    context = RuleContext.build(grid, merged)
    parts = [RULES[rule](context, merged[rule]) for rule in RULE_NAMES if merged[rule]["enabled"]]
    return assemble(parts, grid)
