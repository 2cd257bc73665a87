"""Small statistics the rupture rules need: reliable change and Student t critical values.

scipy is not a dependency, so the t quantiles come from the exact closed-form distribution
function of Student's t for integer degrees of freedom (Abramowitz & Stegun 1964, formula
26.7.3), inverted by bisection.
"""

import math

import numpy as np

# Scores are means of a few items on 0-10 scales: float error is far below 1e-9 while any real
# difference a clinician could see is at least 1e-3, so comparisons allow this much slack.
EPS = 1e-9

# 1.96 = two-tailed 95% normal quantile used by Jacobson & Truax (1991).
RC_Z = 1.96


def reliable_change(sd: np.ndarray | float, reliability: np.ndarray | float) -> np.ndarray:
    """Reliable-change threshold in scale points.

    Inputs: the reference standard deviation ``sd`` and the reliability ``reliability``
    (arrays broadcast together; NaN passes through). Output: ``1.96 * sqrt(2) * SD *
    sqrt(1 - r)``, the smallest difference between two scores that is unlikely (p < .05) to be
    measurement error alone (Jacobson & Truax 1991: RC = 1.96 * S_diff, S_diff = sqrt(2) * SE,
    SE = SD * sqrt(1 - r)).
    """
    sd = np.asarray(sd, dtype=float)
    reliability = np.asarray(reliability, dtype=float)
    return RC_Z * math.sqrt(2.0) * sd * np.sqrt(1.0 - reliability)


def _central_probability(theta: float, df: int) -> float:
    """P(|T| <= sqrt(df) * tan(theta)) for Student's t with ``df`` degrees of freedom.

    Abramowitz & Stegun (1964) 26.7.3: the finite series in cos(theta) for even and odd df.
    """
    cos2 = math.cos(theta) ** 2
    term, total = 1.0, 1.0
    if df % 2 == 0:
        for j in range(1, df // 2):
            term *= (2 * j - 1) / (2 * j) * cos2
            total += term
        return math.sin(theta) * total
    if df == 1:
        return 2.0 * theta / math.pi
    for j in range(1, (df - 1) // 2):
        term *= (2 * j) / (2 * j + 1) * cos2
        total += term
    return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)


def t_critical(alpha: float, df: int) -> float:
    """Two-tailed Student t critical value: P(|T_df| > t) = alpha.

    Inputs: ``alpha`` in (0, 1) and an integer ``df`` >= 1. Output: the critical value, exact
    to about 1e-12 (e.g. 2.776, 3.182 and 4.303 for df 4, 3, 2 at alpha .05; 4.604, 5.841 and
    9.925 at alpha .01). Source: Student's t distribution function in closed form,
    Abramowitz & Stegun (1964) 26.7.3, inverted by bisection on theta = atan(t / sqrt(df)).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df!r}")
    low, high = 0.0, math.pi / 2
    # 100 halvings of an interval of length pi/2 reach machine precision.
    for _ in range(100):
        middle = (low + high) / 2
        if _central_probability(middle, df) < 1.0 - alpha:
            low = middle
        else:
            high = middle
    return math.sqrt(df) * math.tan((low + high) / 2)
