"""PGR with paired-bootstrap confidence intervals, for one seed or across seeds.

Weak, student and ceiling predictions are resampled together (the same test
items in each replicate), so the CIs of the accuracies, of the gap
(ceiling - weak) and of PGR all come from the same replicates.

Replicates whose resampled gap is exactly 0 have no PGR; they are left out of
the PGR percentiles and counted in ``PGRResult.n_undefined``.

``small_gap`` flags a PGR that is not meaningful: the gap's CI includes 0, or
the gap itself is below ``min_gap`` (default 0.02, two accuracy points). A
flagged PGR is still reported, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from sandwich.metrics._validate import as_arrays, check_labels, check_probs, hard
from sandwich.metrics.bootstrap import (
    Interval,
    draw_indices,
    percentile_interval,
    replicate_means,
    resample_indices,
)
from sandwich.metrics.pointwise import pgr

DEFAULT_MIN_GAP = 0.02


class PGRResult(NamedTuple):
    """PGR of one (weak, student, ceiling) comparison with its uncertainty."""

    pgr: float
    pgr_ci: Interval
    weak_acc: float
    weak_acc_ci: Interval
    student_acc: float
    student_acc_ci: Interval
    ceiling_acc: float
    ceiling_acc_ci: Interval
    gap: float  # ceiling_acc - weak_acc
    gap_ci: Interval
    small_gap: bool  # gap CI includes 0, or gap < min_gap: PGR is not meaningful
    n_boot: int
    n_undefined: int  # replicates with a resampled gap of exactly 0 (no PGR)


class SeedPredictions(NamedTuple):
    """Gold labels and the three sets of predictions on one seed's test split."""

    y_true: ArrayLike
    p_weak: ArrayLike
    p_student: ArrayLike
    p_ceiling: ArrayLike


def _summarise(point: np.ndarray, reps: np.ndarray, alpha: float, min_gap: float) -> PGRResult:
    """Build the result from point accuracies (3,) and replicates (n_boot, 3),
    columns ordered weak, student, ceiling."""
    weak, student, ceiling = (float(v) for v in point)
    gap = ceiling - weak
    rep_gap = reps[:, 2] - reps[:, 0]
    defined = rep_gap != 0
    rep_pgr = (reps[defined, 1] - reps[defined, 0]) / rep_gap[defined]
    gap_ci = percentile_interval(rep_gap, alpha)
    small = bool(gap < min_gap or gap_ci.contains(0.0) or np.isnan(gap_ci.low))
    return PGRResult(
        pgr=pgr(weak, student, ceiling),
        pgr_ci=percentile_interval(rep_pgr, alpha),
        weak_acc=weak,
        weak_acc_ci=percentile_interval(reps[:, 0], alpha),
        student_acc=student,
        student_acc_ci=percentile_interval(reps[:, 1], alpha),
        ceiling_acc=ceiling,
        ceiling_acc_ci=percentile_interval(reps[:, 2], alpha),
        gap=gap,
        gap_ci=gap_ci,
        small_gap=small,
        n_boot=len(reps),
        n_undefined=int((~defined).sum()),
    )


def _correct(group: SeedPredictions | Sequence[ArrayLike], where: str) -> np.ndarray:
    """(n, 3) correctness of weak, student, ceiling predictions."""
    if len(group) != 4:
        raise ValueError(f"{where}: expected (y_true, p_weak, p_student, p_ceiling)")
    a = as_arrays(y_true=group[0], p_weak=group[1], p_student=group[2], p_ceiling=group[3])
    y = check_labels(a["y_true"])
    cols = [hard(check_probs(a[k], k)) == y for k in ("p_weak", "p_student", "p_ceiling")]
    return np.stack(cols, axis=1)


def pgr_with_ci(
    y_true: ArrayLike,
    p_weak: ArrayLike,
    p_student: ArrayLike,
    p_ceiling: ArrayLike,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    min_gap: float = DEFAULT_MIN_GAP,
) -> PGRResult:
    """PGR of the student on one test split, with paired-bootstrap CIs."""
    correct = _correct((y_true, p_weak, p_student, p_ceiling), "pgr_with_ci")
    # the same replicates as bootstrap_accuracies(y_true, {weak, student, ceiling}, ...)
    reps = replicate_means(correct, resample_indices(len(correct), n_boot, seed))
    return _summarise(correct.mean(axis=0), reps, alpha, min_gap)


def pgr_with_ci_over_seeds(
    groups: Sequence[SeedPredictions | Sequence[ArrayLike]],
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    min_gap: float = DEFAULT_MIN_GAP,
) -> PGRResult:
    """PGR of seed-averaged accuracies, with a two-level bootstrap.

    Each replicate draws seeds with replacement and, independently for each
    draw, test items with replacement within that seed; it averages the
    accuracies over the drawn seeds and takes PGR of the averages. The point
    estimate is PGR of the mean (over seeds) accuracies. Seeds may have test
    splits of different sizes.
    """
    if not groups:
        raise ValueError("groups is empty: give at least one seed's predictions")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    correct = [_correct(g, f"groups[{i}]") for i, g in enumerate(groups)]
    point = np.mean([c.mean(axis=0) for c in correct], axis=0)
    rng = np.random.default_rng(seed)
    k = len(correct)
    chosen = rng.integers(0, k, size=(n_boot, k))  # seed drawn at each (replicate, slot)
    acc = np.empty((n_boot, k, 3))
    for s, c in enumerate(correct):
        where = chosen == s
        m = int(where.sum())
        if m == 0:
            continue
        acc[where] = replicate_means(c, draw_indices(rng, len(c), m))
    return _summarise(point, acc.mean(axis=1), alpha, min_gap)
