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
    used only by client_reported_tension), ``session`` (whole number >= 1) and ``score``
    (float; NaN or an absent row means missing at that session number). A session is
    "known" for a client when any row names it, even with NaN: known sessions set the end of
    the session grid, the post window of sudden_loss, repair windows and missing_forms.
    Input ``config``: see ``validate_config`` and ``DEFAULTS``; None means the defaults.

    Output: one row per flag with the columns client (the caller's ids, dtype as given),
    rater, scale (object str), session (int64; the session whose score shows the signal),
    rule (object str), magnitude (float64, positive), explanation (object str, an English
    sentence with the numbers), repair_status (object: "repaired", "unrepaired", "pending", or
    None for rules without repair) and repaired_session (pandas nullable Int64, <NA> unless
    repaired). Rows are sorted by client, rater, scale, session, rule; clients sort by their
    own order when they are mutually comparable and by first appearance otherwise.

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
