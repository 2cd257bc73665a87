"""Vectorised building blocks for the clinician-readable flag explanations.

Built on numpy's variable-width StringDType (numpy >= 2.0), whose casts and ``np.strings.add``
run in C: formatting one sentence per flag stays cheap for hundreds of thousands of flags.
"""

import numpy as np

_TEXT = np.dtypes.StringDType()
_RATER_LABELS = np.array(["Client-rated", "Therapist-rated"], dtype=_TEXT)
_RATER_NOUNS = np.array(["client", "therapist"], dtype=_TEXT)


def number(values: np.ndarray | float) -> np.ndarray:
    """Numbers rounded to 2 decimals, written shortest: 4.5, 3.0, 0.89."""
    # Adding 0.0 turns -0.0 into 0.0; the shortest repr of a rounded float has no trailing zeros.
    return (np.round(np.asarray(values, dtype=float), 2) + 0.0).astype(_TEXT)


def whole(values: np.ndarray | int) -> np.ndarray:
    """Whole numbers as text: session numbers and counts."""
    return np.asarray(values, dtype=np.int64).astype(_TEXT)


def rater_label(rater: np.ndarray) -> np.ndarray:
    """'Client-rated' or 'Therapist-rated' for rater codes 0 and 1."""
    return _RATER_LABELS[rater]


def rater_noun(rater: np.ndarray) -> np.ndarray:
    """'client' or 'therapist' for rater codes 0 and 1."""
    return _RATER_NOUNS[rater]


def join(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise concatenation of text arrays and constant strings, as an object array."""
    result = np.asarray(parts[0]).astype(_TEXT)
    for part in parts[1:]:
        result = np.strings.add(result, np.asarray(part).astype(_TEXT))
    return result.astype(object)
