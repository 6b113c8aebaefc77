"""Per-replicate t and Fieller intervals: closed forms, edge cases, coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sandwich.metrics.replicates import mean_ci, ratio_ci


def test_mean_ci_matches_the_t_interval() -> None:
    v = np.array([0.1, 0.4, 0.2, 0.3])
    r = mean_ci(v)
    half = stats.t.ppf(0.975, 3) * v.std(ddof=1) / 2
    assert r.mean == pytest.approx(0.25)
    assert (r.low, r.high) == pytest.approx((0.25 - half, 0.25 + half))


def test_ratio_ci_contains_its_point_and_is_a_point_without_noise() -> None:
    r = ratio_ci([0.1, 0.2, 0.15], [0.3, 0.35, 0.32])
    assert r.bounded and r.low < r.ratio < r.high and r.covers(r.ratio)
    exact = ratio_ci([0.1, 0.1], [0.2, 0.2])
    assert exact.bounded and exact.low == pytest.approx(0.5) and exact.high == pytest.approx(0.5)


def test_ratio_ci_is_unbounded_when_the_denominator_is_noise() -> None:
    r = ratio_ci([0.1, 0.2, 0.05], [0.01, -0.02, 0.015])
    assert not r.bounded and np.isnan(r.low) and np.isnan(r.high)


def test_fewer_than_two_replicates_raise() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        mean_ci([0.3])
    with pytest.raises(ValueError, match="replicates"):
        ratio_ci([0.1, 0.2], [0.3, 0.4, 0.5])


@pytest.mark.parametrize("k", [3, 5])
def test_fieller_covers_a_known_ratio_at_nominal_rate(k: int) -> None:
    rng = np.random.default_rng(12)
    reps = 4000
    den = 0.2 + 0.05 * rng.standard_normal((reps, k))
    num = 0.1 + 0.5 * (den - 0.2) + 0.04 * rng.standard_normal((reps, k))
    hits = sum(ratio_ci(num[i], den[i]).covers(0.5) for i in range(reps))
    assert 0.93 <= hits / reps <= 0.97
