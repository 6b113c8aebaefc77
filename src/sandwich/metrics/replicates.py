"""Intervals from independent replicates: a mean (Student t) and a ratio of means (Fieller).

A replicate is one independent repetition of the whole measurement, usually
one seed: its own split, its own training, its own test items. The spread of
the per-replicate values then contains every source of noise at once (test
items, training randomness, split), each counted once, so a t quantile on
k - 1 degrees of freedom gives an interval whose coverage is nominal when the
per-replicate values are roughly normal, whatever the share of seed and item
noise. With few replicates the interval is wide, honestly so.

``ratio_ci`` is Fieller's interval for mean(num) / mean(den) from paired
per-replicate values (for PGR: num = student - weak, den = ceiling - weak).
It is exact under bivariate normality and, unlike the delta method, stays
honest when the denominator is uncertain: when mean(den) is not significantly
different from 0 the confidence set is unbounded (``RatioInterval.bounded`` is
False, ``low``/``high`` are NaN) and ``covers`` still answers exactly.

Both also serve one seed's test items as the replicates (n items, t on n - 1
degrees of freedom), which is the within-seed interval.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


class MeanInterval(NamedTuple):
    """mean(values) with a t interval on k - 1 degrees of freedom."""

    mean: float
    low: float
    high: float
    se: float
    k: int


class RatioInterval(NamedTuple):
    """mean(num) / mean(den) with Fieller's confidence set.

    ``bounded`` is False when mean(den) is not significantly different from 0
    at this level: the set is then the whole line or the line minus an
    interval, and ``low``/``high`` are NaN. ``a``, ``b``, ``c`` are the
    coefficients of the quadratic a R^2 - 2 b R + c <= 0 that defines the set.
    """

    ratio: float
    low: float
    high: float
    bounded: bool
    k: int
    a: float
    b: float
    c: float

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies in the confidence set (exact, bounded or not)."""
        return bool(self.a * value * value - 2 * self.b * value + self.c <= 1e-12)


def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=float).ravel()
    if a.size < 2:
        raise ValueError(f"{name}: need at least 2 replicates for an interval, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: values must be finite")
    return a


@functools.lru_cache(maxsize=256)
def t_quantile(k: int, alpha: float) -> float:
    """The two-sided 1 - alpha quantile of Student t on k - 1 degrees of freedom
    (cached: scipy's ppf costs more than the rest of an interval)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return float(stats.t.ppf(1 - alpha / 2, k - 1))


def mean_ci(values: ArrayLike, alpha: float = 0.05) -> MeanInterval:
    """The mean of per-replicate values with a t interval (k - 1 degrees of freedom)."""
    v = _as_1d(values, "mean_ci")
    k = v.size
    se = float(v.std(ddof=1) / math.sqrt(k))
    half = t_quantile(k, alpha) * se
    m = float(v.mean())
    return MeanInterval(mean=m, low=m - half, high=m + half, se=se, k=k)


def ratio_ci(num: ArrayLike, den: ArrayLike, alpha: float = 0.05) -> RatioInterval:
    """Fieller's interval for mean(num) / mean(den) over paired replicates."""
    x = _as_1d(num, "ratio_ci num")
    y = _as_1d(den, "ratio_ci den")
    if x.size != y.size:
        raise ValueError(f"ratio_ci: num has {x.size} replicates, den has {y.size}")
    k = x.size
    cov = np.cov(np.stack([x, y]), ddof=1) / k  # covariance of the two means
    mx, my = float(x.mean()), float(y.mean())
    t2 = t_quantile(k, alpha) ** 2
    a = my * my - t2 * float(cov[1, 1])
    b = mx * my - t2 * float(cov[0, 1])
    c = mx * mx - t2 * float(cov[0, 0])
    ratio = mx / my if my != 0 else float("nan")
    if a <= 0:
        return RatioInterval(ratio, float("nan"), float("nan"), False, k, a, b, c)
    root = math.sqrt(max(b * b - a * c, 0.0))
    return RatioInterval(ratio, (b - root) / a, (b + root) / a, True, k, a, b, c)
