"""The caseload's sparkline: the last sessions' client-rated totals as a small line, its
shape only (the page writes the SVG)."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sparkline:
    """A small chart of a client's recent totals, in SVG user units (``sparkline``)."""

    width: int
    height: int
    base_y: float  # the baseline under the points
    runs: list[list[tuple[float, float]]]  # each unbroken run of scores: a line, or a dot
    last: tuple[float, float] | None  # the last score, marked


def sparkline(
    points: Sequence[tuple[int, float | None]],
    *,
    scale_range: tuple[float, float],
    width: int = 96,
    height: int = 28,
) -> Sparkline | None:
    """The shape of a client's recent totals: (session number, score or None); None when
    there are no points. The page draws it as an inline SVG.

    x is the session number, so a missing form leaves a gap; the line is never drawn across
    it. y spans the instrument's scale range. The last score gets a dot.
    """
    pad = 3
    if not points:
        return None
    first, last = points[0][0], points[-1][0]
    low, high = scale_range
    span_x = max(last - first, 1)
    span_y = (high - low) or 1

    def xy(number: int, value: float) -> tuple[float, float]:
        x = pad + (number - first) / span_x * (width - 2 * pad)
        y = pad + (high - value) / span_y * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    segments, current = [], []
    previous = None
    for number, value in points:
        if value is None or (previous is not None and number != previous + 1):
            if current:
                segments.append(current)
            current = []
        if value is not None:
            current.append(xy(number, value))
        previous = number
    if current:
        segments.append(current)
    last_scored = next(((n, v) for n, v in reversed(points) if v is not None), None)
    return Sparkline(
        width=width,
        height=height,
        base_y=height - pad,
        runs=segments,
        last=xy(*last_scored) if last_scored is not None else None,
    )
