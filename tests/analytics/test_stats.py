"""Student t critical values and the reliable-change threshold."""

import math

import numpy as np
import pytest

from alliance.analytics.stats import reliable_change, t_critical
from tests.analytics import reference

# Two-tailed critical values as printed in standard t tables (3 decimals).
TABLE = [
    (0.05, 2, 4.303),
    (0.05, 3, 3.182),
    (0.05, 4, 2.776),
    (0.01, 2, 9.925),
    (0.01, 3, 5.841),
    (0.01, 4, 4.604),
    (0.10, 2, 2.920),
    (0.10, 3, 2.353),
    (0.10, 4, 2.132),
    (0.05, 1, 12.706),
    (0.05, 10, 2.228),
]


@pytest.mark.parametrize(("alpha", "df", "printed"), TABLE)
def test_t_critical_matches_printed_tables(alpha, df, printed):
    assert round(t_critical(alpha, df), 3) == printed


@pytest.mark.parametrize(("alpha", "df"), [(0.05, 2), (0.05, 3), (0.05, 4), (0.01, 4)])
def test_t_critical_agrees_with_numerical_integration(alpha, df):
    # Closed form (Abramowitz & Stegun 26.7.3) vs Simpson's rule on the density.
    assert t_critical(alpha, df) == pytest.approx(reference.t_critical(alpha, df), abs=1e-7)


def test_t_critical_exact_for_two_degrees_of_freedom():
    # df 2: P(|T| <= t) = t / sqrt(2 + t^2), so t = sqrt(2) * p / sqrt(1 - p^2) with p = 0.95.
    assert t_critical(0.05, 2) == pytest.approx(math.sqrt(2) * 0.95 / math.sqrt(1 - 0.95**2))


@pytest.mark.parametrize(("alpha", "df"), [(0.0, 4), (1.0, 4), (0.05, 0)])
def test_t_critical_rejects_bad_arguments(alpha, df):
    with pytest.raises(ValueError, match=r"alpha|degrees"):
        t_critical(alpha, df)


def test_reliable_change_formula():
    # Jacobson & Truax (1991): 1.96 * sqrt(2) * SD * sqrt(1 - r).
    assert float(reliable_change(0.5, 0.5)) == pytest.approx(0.98)
    assert float(reliable_change(0.6, 0.85)) == pytest.approx(
        1.96 * math.sqrt(2) * 0.6 * math.sqrt(0.15)
    )
    assert np.isnan(reliable_change(np.nan, 0.8))
