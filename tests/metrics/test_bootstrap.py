from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandwich.metrics import (
    Interval,
    accuracy,
    bootstrap_accuracies,
    paired_bootstrap,
    pgr_with_ci,
    pgr_with_ci_over_seeds,
    resample_counts,
)
from sandwich.metrics.pgr_ci import METHOD_BOOTSTRAP, METHOD_SEEDS, pgr_over_seed_accuracies
from sandwich.metrics.replicates import mean_ci, ratio_ci

Arrays4 = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def synthetic(
    n: int, seed: int, strengths: tuple[float, float, float] = (0.5, 1.0, 1.6)
) -> Arrays4:
    """Gold labels and weak, student, ceiling predictions of increasing quality."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    w, s, c = (1 / (1 + np.exp(-(a * (2 * y - 1) + rng.normal(size=n)))) for a in strengths)
    return y, w, s, c


def test_counts_sum_to_n() -> None:
    c = resample_counts(37, 50, seed=3)
    assert c.shape == (50, 37)
    assert (c.sum(axis=1) == 37).all()


def test_vectorised_matches_generic_bootstrap() -> None:
    y, pw, ps, _ = synthetic(120, 0)
    reps = bootstrap_accuracies(y, {"w": pw, "s": ps}, n_boot=300, seed=5)
    assert reps.shape == (300, 2)
    lo, hi = np.quantile(reps[:, 1] - reps[:, 0], [0.025, 0.975])
    ci = paired_bootstrap(
        lambda y, a, b: accuracy(y, b) - accuracy(y, a), {"y": y, "a": pw, "b": ps}, 300, 5
    )
    assert ci == pytest.approx((lo, hi))


def test_paired_bootstrap_drops_undefined_replicates() -> None:
    ci = paired_bootstrap(lambda x: float("nan"), {"x": np.ones(5)}, n_boot=10)
    assert math.isnan(ci.low) and math.isnan(ci.high)


def test_paired_bootstrap_mismatch_names_arrays() -> None:
    with pytest.raises(ValueError, match="a=3, b=2"):
        paired_bootstrap(lambda a, b: 0.0, {"a": [1, 2, 3], "b": [1, 2]})


def test_pgr_ci_pattern_bootstrap_matches_resampling_items() -> None:
    """The multinomial over the 8 correctness patterns is the item bootstrap in
    distribution: its CIs agree with resampling item indices up to Monte Carlo error."""
    y, pw, ps, pc = synthetic(150, 7)
    reps = bootstrap_accuracies(y, {"w": pw, "s": ps, "c": pc}, n_boot=20000, seed=9)
    r = pgr_with_ci(y, pw, ps, pc, n_boot=20000, seed=9)
    lo, hi = np.quantile((reps[:, 1] - reps[:, 0]) / (reps[:, 2] - reps[:, 0]), [0.025, 0.975])
    assert r.pgr_ci == pytest.approx((lo, hi), abs=0.03)
    acc_lo, acc_hi = np.quantile(reps[:, 1], [0.025, 0.975])
    assert r.student_acc_ci == pytest.approx((acc_lo, acc_hi), abs=0.01)


def test_pgr_of_weak_and_ceiling_as_student() -> None:
    y, pw, _, pc = synthetic(300, 1)
    assert pgr_with_ci(y, pw, pw, pc, n_boot=200).pgr == 0.0
    assert pgr_with_ci(y, pw, pc, pc, n_boot=200).pgr == 1.0
    # every defined replicate is exactly 0 or 1 too: the pairing holds
    assert pgr_with_ci(y, pw, pw, pc, n_boot=200).pgr_ci == (0.0, 0.0)
    assert pgr_with_ci(y, pw, pc, pc, n_boot=200).pgr_ci == (1.0, 1.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(200, 500))
def test_ci_contains_point_estimate(seed: int, n: int) -> None:
    r = pgr_with_ci(*synthetic(n, seed), n_boot=500, seed=seed)
    assert not r.small_gap
    for est, ci in [
        (r.pgr, r.pgr_ci),
        (r.weak_acc, r.weak_acc_ci),
        (r.student_acc, r.student_acc_ci),
        (r.ceiling_acc, r.ceiling_acc_ci),
        (r.gap, r.gap_ci),
    ]:
        assert isinstance(ci, Interval) and ci.low <= est <= ci.high


def test_pgr_invariant_to_item_order() -> None:
    arrays = synthetic(250, 2)
    perm = np.random.default_rng(0).permutation(250)
    a = pgr_with_ci(*arrays, n_boot=100)
    y, w, s, c = (x[perm] for x in arrays)
    b = pgr_with_ci(y, w, s, c, n_boot=100)
    assert a.pgr == pytest.approx(b.pgr) and a.gap == pytest.approx(b.gap)


def test_small_gap_flag_and_undefined_replicates() -> None:
    y, pw, ps, _ = synthetic(300, 3)
    r = pgr_with_ci(y, pw, ps, pw.copy(), n_boot=100)  # ceiling == weak
    assert r.small_gap and math.isnan(r.pgr) and r.n_undefined == 100
    assert math.isnan(r.pgr_ci.low)
    y, pw, ps, pc = synthetic(300, 3, (0.8, 0.9, 0.85))
    assert pgr_with_ci(y, pw, ps, pc, n_boot=300).small_gap  # gap within noise
    r = pgr_with_ci(*synthetic(300, 3), n_boot=300, min_gap=0.5)
    assert r.small_gap  # gap clearly positive but below min_gap


def test_deterministic_per_seed() -> None:
    arrays = synthetic(200, 4)
    assert pgr_with_ci(*arrays, seed=1) == pgr_with_ci(*arrays, seed=1)
    assert pgr_with_ci(*arrays, seed=1).pgr_ci != pgr_with_ci(*arrays, seed=2).pgr_ci


def test_over_seeds() -> None:
    groups = [synthetic(300, s) for s in range(4)]
    r = pgr_with_ci_over_seeds(groups, n_boot=500)
    singles = [pgr_with_ci(*g, n_boot=10) for g in groups]
    weak = np.mean([s.weak_acc for s in singles])
    student = np.mean([s.student_acc for s in singles])
    ceiling = np.mean([s.ceiling_acc for s in singles])
    assert r.pgr == pytest.approx((student - weak) / (ceiling - weak))
    assert r.pgr_ci.contains(r.pgr) and r.pgr_bounded and r.n_seeds == 4
    assert r.method == METHOD_SEEDS
    # the accuracies' intervals are t intervals over the per-seed accuracies
    t = mean_ci([s.student_acc for s in singles])
    assert r.student_acc_ci == pytest.approx((t.low, t.high))
    # one seed: the single-split bootstrap, and it says so
    one = pgr_with_ci_over_seeds(groups[:1], n_boot=2000)
    assert one == pgr_with_ci(*groups[0], n_boot=2000)
    assert one.method == METHOD_BOOTSTRAP and one.n_seeds == 1
    # weak as student: exactly 0 again
    assert pgr_with_ci_over_seeds([(g[0], g[1], g[1], g[3]) for g in groups]).pgr == 0.0


def test_over_seeds_uses_fieller_on_per_seed_differences() -> None:
    groups = [synthetic(300, s) for s in range(3)]
    acc = np.array([[pgr_with_ci(*g, n_boot=10).weak_acc, pgr_with_ci(*g, n_boot=10).student_acc,
                     pgr_with_ci(*g, n_boot=10).ceiling_acc] for g in groups])  # fmt: skip
    f = ratio_ci(acc[:, 1] - acc[:, 0], acc[:, 2] - acc[:, 0])
    r = pgr_with_ci_over_seeds(groups)
    assert r.pgr_ci == pytest.approx((f.low, f.high))
    assert r.pgr_covers(f.low + 1e-9) and not r.pgr_covers(f.high + 0.01)


def test_over_seeds_unbounded_set_is_nan_and_flagged() -> None:
    """Seeds that disagree on the sign of the gap: no bounded PGR interval."""
    acc = [[0.70, 0.72, 0.80], [0.70, 0.71, 0.64], [0.70, 0.73, 0.74]]
    r = pgr_over_seed_accuracies(acc)
    assert not r.pgr_bounded and math.isnan(r.pgr_ci.low) and math.isnan(r.pgr_ci.high)
    assert r.small_gap and r.gap_ci.contains(0.0)
    assert r.pgr_covers(123.0)  # an unbounded set: a far value is inside


def test_over_seeds_empty_and_bad_groups() -> None:
    with pytest.raises(ValueError, match="empty"):
        pgr_with_ci_over_seeds([])
    with pytest.raises(ValueError, match=r"groups\[0\]"):
        pgr_with_ci_over_seeds([([1, 0], [0.2, 0.3])])
    with pytest.raises(ValueError, match="p_student=1"):
        pgr_with_ci_over_seeds([([1, 0], [0.2, 0.3], [0.2], [0.2, 0.3])])


def test_empty_raises() -> None:
    with pytest.raises(ValueError, match="empty"):
        pgr_with_ci([], [], [], [])
