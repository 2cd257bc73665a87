"""Small builders for hand-written score frames and configs."""

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from alliance.analytics import DEFAULTS

NAN = math.nan
COLUMNS = ["client", "rater", "scale", "session", "score"]


def series(
    values: Iterable[float | None],
    *,
    client: Any = "A",
    rater: str = "client",
    scale: str = "total",
    start: int = 1,
) -> list[tuple[Any, str, str, int, float]]:
    """Rows for one series from session ``start`` on: a number is a score, NaN a row with a
    missing score (a completed session without that form), None no row at all."""
    return [
        (client, rater, scale, start + offset, value)
        for offset, value in enumerate(values)
        if value is not None
    ]


def frame(*row_lists: list[tuple[Any, str, str, int, float]]) -> pd.DataFrame:
    """A scores frame from one or more ``series`` row lists."""
    rows = [row for rows in row_lists for row in rows]
    return pd.DataFrame(rows, columns=COLUMNS)


def norms(sd: float = 0.5, reliability: float = 0.5, **extra: Any) -> dict[str, Any]:
    """Instrument norms for the client's and the therapist's total.

    sd 0.5 and reliability 0.5 give RC = 1.96 * sqrt(2) * 0.5 * sqrt(0.5) = 0.98.
    """
    entry = {"sd": sd, "reliability": reliability, "source": "instrument norms"}
    return {"client": {"total": dict(entry)}, "therapist": {"total": dict(entry)}, **extra}


def only(rule: str, **settings: Any) -> dict[str, Any]:
    """A config with every rule off except ``rule`` (plus any data keys in ``settings``)."""
    config: dict[str, Any] = {name: {"enabled": False} for name in DEFAULTS}
    config[rule] = {"enabled": True, **settings.pop("params", {})}
    config.update(settings)
    return config
