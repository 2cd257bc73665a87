"""Vectorised building blocks for the clinician-readable flag explanations.

Built on numpy's variable-width StringDType (numpy >= 2.0), whose casts and ``np.strings.add``
run in C: formatting one sentence per flag stays cheap for hundreds of thousands of flags.
"""

import numpy as np

_TEXT = np.dtypes.StringDType()
_RATER_LABELS = np.array(["Client-rated", "Therapist-rated"], dtype=_TEXT)
_RATER_NOUNS = np.array(["client", "therapist"], dtype=_TEXT)


def _formatted(values: np.ndarray) -> np.ndarray:
    # Flags share few distinct values (scores, sessions): format each distinct value once.
    unique, inverse = np.unique(values, return_inverse=True)
    return unique.astype(_TEXT)[inverse.reshape(values.shape)]


def number(values: np.ndarray | float) -> np.ndarray:
    """Numbers rounded to 2 decimals, written shortest: 4.5, 3.0, 0.89."""
    # Adding 0.0 turns -0.0 into 0.0; the shortest repr of a rounded float has no trailing zeros.
    return _formatted(np.round(np.asarray(values, dtype=float), 2) + 0.0)


def whole(values: np.ndarray | int) -> np.ndarray:
    """Whole numbers as text: session numbers and counts."""
    return _formatted(np.asarray(values, dtype=np.int64))


def rater_label(rater: np.ndarray) -> np.ndarray:
    """'Client-rated' or 'Therapist-rated' for rater codes 0 and 1."""
    return _RATER_LABELS[rater]


def rater_noun(rater: np.ndarray) -> np.ndarray:
    """'client' or 'therapist' for rater codes 0 and 1."""
    return _RATER_NOUNS[rater]


def table(values: np.ndarray) -> np.ndarray:
    """A small lookup table of names as text, so that indexing it needs no per-flag cast."""
    return np.asarray(values).astype(_TEXT)


def join(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise concatenation of text arrays and constant strings, as an object array."""
    result = np.asarray(parts[0]).astype(_TEXT, copy=False)
    for part in parts[1:]:
        result = np.strings.add(result, np.asarray(part).astype(_TEXT, copy=False))
    return result.astype(object)
