"""Input checks shared by the metrics: 1-d, non-empty, equal lengths, named in errors."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def as_arrays(**arrays: ArrayLike) -> dict[str, np.ndarray]:
    """Convert each named input to a 1-d float array; raise naming the culprit.

    Raises ``ValueError`` if an input is not 1-d, is empty, contains NaN, or if
    the lengths differ (the message lists every array's length).
    """
    out: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        a = np.asarray(value, dtype=np.float64)
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-d (one value per item), got shape {a.shape}")
        if a.size == 0:
            raise ValueError(f"{name} is empty: metrics need at least one item")
        if np.isnan(a).any():
            raise ValueError(f"{name} contains NaN at item {int(np.flatnonzero(np.isnan(a))[0])}")
        out[name] = a
    lengths = {name: len(a) for name, a in out.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"arrays must have the same length (one value per item), got {listed}")
    return out


def check_labels(y_true: np.ndarray, name: str = "y_true") -> np.ndarray:
    """Gold labels must be 0/1; return them as a boolean array."""
    bad = (y_true != 0) & (y_true != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must contain only 0/1 labels, got {y_true[i]!r} at item {i}")
    return y_true == 1


def check_probs(p: np.ndarray, name: str) -> np.ndarray:
    """Probabilities must lie in [0, 1]."""
    bad = (p < 0) | (p > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must contain probabilities in [0, 1], got {p[i]!r} at item {i}")
    return p


def hard(p: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Hard labels: positive iff ``p > threshold`` (a tie at the threshold is negative,
    as in scikit-learn's ``predict``)."""
    return p > threshold
