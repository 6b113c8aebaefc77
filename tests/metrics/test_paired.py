"""The paired method-minus-control difference: its arithmetic, its errors, its coverage."""

from __future__ import annotations

import numpy as np
import pytest

from sandwich.metrics.paired import paired_difference
from sandwich.metrics.replicates import mean_ci


def _preds(correct: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(true) that is right exactly where ``correct`` is True."""
    return np.where(correct == y.astype(bool), 0.9, 0.1)


def _simulated_seed(rng: np.random.Generator, n: int, delta_s: float, y: np.ndarray):  # type: ignore[no-untyped-def]
    """One seed: control right with P 0.75, method right with P 0.75 + delta_s, paired
    (comonotone: the method is right on the control's right items plus a share of the rest)."""
    u = rng.random(n)
    control = u < 0.75
    method = u < 0.75 + delta_s
    return y, _preds(method, y), _preds(control, y)


def test_per_seed_differences_and_the_t_interval() -> None:
    y = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1])
    seeds = []
    for k in (3, 1, 2):  # the method is right on k more items than the control
        control = np.arange(10) < 6
        method = np.arange(10) < 6 + k
        seeds.append((y, _preds(method, y), _preds(control, y)))
    r = paired_difference(seeds)
    assert r.seed_diffs == pytest.approx((0.3, 0.1, 0.2))
    t = mean_ci([0.3, 0.1, 0.2])
    assert (r.diff, r.low, r.high) == pytest.approx((0.2, t.low, t.high))
    assert r.interval == "t over seeds" and r.n_seeds == 3
    assert (r.method_acc, r.control_acc) == pytest.approx((0.8, 0.6))


def test_one_seed_gives_a_within_seed_bootstrap_that_pairs_items() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    control = rng.random(400) < 0.7
    method = control.copy()
    method[np.flatnonzero(~control)[:20]] = True  # right on 20 more items, never worse
    r = paired_difference([(y, _preds(method, y), _preds(control, y))], n_boot=500)
    assert r.interval == "within-seed bootstrap" and r.n_seeds == 1
    assert r.diff == pytest.approx(0.05)
    # paired: the method never loses an item, so no resample can show it worse
    assert 0 < r.low < 0.05 < r.high


def test_identical_predictions_differ_by_exactly_zero() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([0.2, 0.7, 0.4, 0.5])
    r = paired_difference([(y, p, p), (y, p, p)])
    assert (r.diff, r.low, r.high) == (0.0, 0.0, 0.0)


def test_bad_input_names_the_seed() -> None:
    y = np.array([0, 1, 1])
    with pytest.raises(ValueError, match=r"seed 1: .*same length"):
        paired_difference([(y, y * 0.9, y * 0.8), (y, y[:2], y)])
    with pytest.raises(ValueError, match="at least one seed"):
        paired_difference([])


def test_over_seeds_interval_covers_the_true_difference_at_95() -> None:
    """3 seeds, 300 items each; the per-seed true difference varies across seeds
    (training noise, sd 0.02) around 0.03. 2000 replications."""
    rng = np.random.default_rng(20261130)
    n, k, reps, delta = 300, 3, 2000, 0.03
    hits = 0
    for _ in range(reps):
        y = rng.integers(0, 2, n)
        seeds = [_simulated_seed(rng, n, delta + 0.02 * rng.standard_normal(), y) for _ in range(k)]
        r = paired_difference(seeds)
        hits += r.low <= delta <= r.high
    assert 0.93 <= hits / reps <= 0.97


def test_within_seed_interval_covers_the_difference_at_95() -> None:
    """One seed: the estimand is the difference for that seed's fits, item noise only."""
    rng = np.random.default_rng(7)
    n, reps, delta = 300, 2000, 0.04
    hits = 0
    for i in range(reps):
        y = rng.integers(0, 2, n)
        r = paired_difference([_simulated_seed(rng, n, delta, y)], n_boot=400, seed=i)
        hits += r.low <= delta <= r.high
    assert 0.93 <= hits / reps <= 0.97
