"""Rupture episodes: the flags that describe one event, grouped into one item.

The rules of ``rules`` each test one definition, so one rupture at session 8 can fire
several of them (a reliable drop, below baseline, a sudden loss, the client's tension report
and the raters' disagreement). A clinician handles the event once: ``group_episodes`` puts
those flags into one episode, which carries the repair status of the drops it holds.
"""

from typing import Any

import numpy as np
import pandas as pd

from alliance.analytics.registry import RULES, RULES_BY_KEY, RUPTURE
from alliance.analytics.repair import PENDING, REPAIRED, UNREPAIRED

# Rules whose flags at one held session are one rupture, whoever rated it.
RUPTURE_RULES = tuple(rule.key for rule in RULES if rule.episode_kind == RUPTURE)
# Rules that describe a state that can last (a run of low scores, a lasting gap between the
# raters): at the next position, the same rule on the same rater and scale continues the
# episode instead of starting one.
RUN_RULES = tuple(rule.key for rule in RULES if rule.continues_run)

EPISODE_COLUMNS = (
    "client",
    "kind",
    "session",
    "last_session",
    "rules",
    "repair_status",
    "repaired_session",
)


def group_episodes(flags: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Group the flags of ``detect`` into episodes.

    Input: the flags frame of ``detect`` (at least client, rater, scale, session (the
    position), rule, repair_status, repaired_session).
    Outputs: the episode of each flag (an index into the episodes frame, in the flags'
    order) and the episodes frame, one row per episode, with the columns client, kind
    ("rupture", "ceiling" or "missing_forms"), session (the position where it began),
    last_session (its last position), rules (sorted tuple of the rules that fired),
    repair_status and repaired_session (a position or None), sorted by client and session.

    One episode holds (a) every rupture-type flag (the drops of either rater, low alliance,
    the client's tension report, the raters' disagreement) of one client at one position,
    and (b) the flags of a below-baseline, low-alliance or disagreement run that continues at
    the next position on the same rater and scale: the same dip, not a new rupture. Any other
    flag at that next position begins an episode of its own. Ceiling and missing-forms flags are one
    episode each.

    Repair (Eubanks, Muran & Safran 2018: a rupture is repaired when the alliance returns to
    where it was): an episode is "unrepaired" when any of its drops is, "repaired" (at the
    latest of their repairing positions) when all of them are, "pending" otherwise, and
    None when it holds no drop (a tension report alone).
    """
    episode_of = np.full(len(flags), -1, dtype=np.int64)
    episodes: list[dict[str, Any]] = []
    order = np.lexsort((flags["session"].to_numpy(), _client_order(flags["client"])))
    client = flags["client"].to_numpy()
    session = flags["session"].to_numpy()
    rule = flags["rule"].to_numpy()
    rater = flags["rater"].to_numpy()
    scale = flags["scale"].to_numpy()
    repair_status = flags["repair_status"].to_numpy()
    repaired_session = flags["repaired_session"].to_numpy()
    # The episode begun at (client, position, kind), and the run episode that holds
    # (client, position, rater, scale, rule) for a run rule.
    started: dict[tuple, int] = {}
    runs: dict[tuple, int] = {}
    for i in order:
        position = int(session[i])
        kind = RULES_BY_KEY[rule[i]].episode_kind
        in_run = rule[i] in RUN_RULES
        index = runs.get((client[i], position - 1, rater[i], scale[i], rule[i])) if in_run else None
        if index is None:
            index = started.get((client[i], position, kind))
        if index is None:
            index = started[(client[i], position, kind)] = len(episodes)
            episodes.append(
                {
                    "client": client[i],
                    "kind": kind,
                    "session": position,
                    "rules": set(),
                    "repairs": [],
                }
            )
        if in_run:
            runs[(client[i], position, rater[i], scale[i], rule[i])] = index
        episode = episodes[index]
        episode_of[i] = index
        episode["last_session"] = max(episode.get("last_session", position), position)
        episode["rules"].add(rule[i])
        episode["repairs"].append((repair_status[i], repaired_session[i]))
    for episode in episodes:
        episode["rules"] = tuple(sorted(episode["rules"]))
        episode["repair_status"], episode["repaired_session"] = _episode_repair(
            episode.pop("repairs")
        )
    frame = pd.DataFrame(episodes, columns=list(EPISODE_COLUMNS), dtype=object)
    return episode_of, frame.astype({"session": np.int64, "last_session": np.int64})


def _client_order(column: pd.Series) -> np.ndarray:
    """Sortable codes of the client ids (their own order when comparable)."""
    codes, _uniques = pd.factorize(column, sort=True)
    return codes


def _episode_repair(repairs: list[tuple[Any, Any]]) -> tuple[str | None, int | None]:
    found = [(status, at) for status, at in repairs if status in (REPAIRED, UNREPAIRED, PENDING)]
    if not found:
        return None, None
    statuses = {status for status, _at in found}
    if UNREPAIRED in statuses:
        return UNREPAIRED, None
    if statuses == {REPAIRED}:
        positions = [int(at) for _status, at in found if not pd.isna(at)]
        return REPAIRED, max(positions) if positions else None
    return PENDING, None
