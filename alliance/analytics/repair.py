"""Repair classification of drop-type flags (Eubanks, Muran & Safran 2018)."""

import numpy as np

from alliance.analytics.frames import Grid
from alliance.analytics.stats import EPS

REPAIRED = "repaired"
UNREPAIRED = "unrepaired"
PENDING = "pending"


def classify_repair(
    grid: Grid, cells: np.ndarray, level: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Repair status of the flags raised at grid ``cells``.

    Inputs: the flagged cells (session s of each flag), the level the score must return to
    (the pre-drop score x(n), or the baseline mean for below_baseline) and the window W.
    Outputs: the status per flag, "repaired" when a score at one of the positions
    s+1..s+W is >= level (missing sessions use up the window), "unrepaired" when the client's
    last known session is >= s+W without that, "pending" otherwise; and the first repairing
    position (-1 when not repaired). Rupture repair as defined by Eubanks, Muran &
    Safran (2018): the alliance returns to where it was before the rupture.
    """
    repaired_at = np.full(cells.shape, -1, dtype=np.int64)
    session = grid.session[cells]
    # Walk the window backwards so that the earliest repairing session is the one kept.
    for step in range(window, 0, -1):
        back = grid.at(cells, step) >= level - EPS
        repaired_at[back] = session[back] + step
    status = np.full(cells.shape, PENDING, dtype=object)
    status[grid.last_session[grid.cell_client(cells)] >= session + window] = UNREPAIRED
    status[repaired_at >= 0] = REPAIRED
    return status, repaired_at
