from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def clustered(
    seed: int, n: int = 400, d: int = 100, n_test: int = 1000, flip: float = 0.0, mu: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two Gaussian clusters at ±mu along a random direction (a salient, linearly
    separable-with-margin concept); a share ``flip`` of the training labels flipped.

    Returns (X_train, y_train_noisy, X_test, y_test_gold).
    """
    rng = np.random.default_rng(seed)
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    y = rng.integers(0, 2, n + n_test).astype(float)
    X = rng.normal(size=(n + n_test, d)) + np.outer(2 * y - 1, u) * mu
    flipped = rng.random(n) < flip
    return X[:n], np.where(flipped, 1 - y[:n], y[:n]), X[n:], y[n:]


Clustered = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


@pytest.fixture(scope="session")
def make_clustered() -> Clustered:
    """The :func:`clustered` data generator, as a fixture."""
    return clustered
