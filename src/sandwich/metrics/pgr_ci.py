"""PGR with confidence intervals, for one seed or across seeds.

**One seed** (:func:`pgr_with_ci`, the interval every cell reports): a paired
percentile bootstrap over test items. Weak, student and ceiling predictions
are resampled together (the same test items in each replicate), so the CIs of
the accuracies, of the gap (ceiling - weak) and of PGR all come from the same
replicates. A replicate only depends on how often each of the 8 correctness
patterns (weak, student, ceiling right or wrong) was drawn, so it is drawn as
one multinomial over those 8 counts: exactly the distribution of resampling
items with replacement, about 10x faster. Its coverage is measured by
:mod:`sandwich.metrics.coverage` (docs/results.md). It only knows the noise
of the test items: it says nothing about how much PGR moves between training
seeds.

**Over seeds** (:func:`pgr_with_ci_over_seeds`, the interval every group
reports): each seed is one independent replicate of the whole experiment
(its own split, training and test items). Per seed ``d1 = student - weak``
and ``d2 = ceiling - weak``; PGR = mean(d1) / mean(d2) (the PGR of the
seed-averaged accuracies), with Fieller's interval using a t quantile on
k - 1 degrees of freedom (:func:`~sandwich.metrics.replicates.ratio_ci`). The
accuracies and the gap get t intervals over their per-seed values
(:func:`~sandwich.metrics.replicates.mean_ci`). The spread between seeds
holds item noise and training-seed noise, each counted once; with 2-4 seeds
the intervals are honest but wide. With one seed there is no spread between
seeds, and the group falls back to the within-seed bootstrap (``method`` says
which was used).

When the gap is not significantly different from 0 Fieller's set is
unbounded: ``pgr_ci`` is then (NaN, NaN) (JSON null) and ``pgr_bounded`` is
False.

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
from sandwich.metrics.bootstrap import Interval, multinomial_means, percentile_interval
from sandwich.metrics.pointwise import pgr
from sandwich.metrics.replicates import RatioInterval, mean_ci, ratio_ci

DEFAULT_MIN_GAP = 0.02

# the names of the interval methods, as stored in results (GroupResult.ci_method)
METHOD_BOOTSTRAP = "paired bootstrap over test items (one seed)"
METHOD_SEEDS = "t / Fieller over seeds"

# (8, 3): whether weak, student, ceiling are right in each correctness pattern,
# pattern p = 4 * weak + 2 * student + ceiling
_PATTERNS = np.array([[(p >> 2) & 1, (p >> 1) & 1, p & 1] for p in range(8)], dtype=np.float64)


class PGRResult(NamedTuple):
    """PGR of one (weak, student, ceiling) comparison with its uncertainty."""

    pgr: float
    pgr_ci: Interval  # (nan, nan) when the confidence set is unbounded
    weak_acc: float
    weak_acc_ci: Interval
    student_acc: float
    student_acc_ci: Interval
    ceiling_acc: float
    ceiling_acc_ci: Interval
    gap: float  # ceiling_acc - weak_acc
    gap_ci: Interval
    small_gap: bool  # gap CI includes 0, or gap < min_gap: PGR is not meaningful
    n_boot: int  # bootstrap replicates (0 for the interval over seeds)
    n_undefined: int  # replicates with a resampled gap of exactly 0 (no PGR)
    method: str = METHOD_BOOTSTRAP
    n_seeds: int = 1
    pgr_bounded: bool = True  # False: the PGR confidence set is unbounded
    fieller: RatioInterval | None = None  # the full confidence set (over seeds only)

    def pgr_covers(self, value: float) -> bool:
        """Whether ``value`` lies in PGR's confidence set (exact for an unbounded set)."""
        if self.fieller is not None:
            return self.fieller.covers(value)
        return self.pgr_ci.contains(value)


class SeedPredictions(NamedTuple):
    """Gold labels and the three sets of predictions on one seed's test split."""

    y_true: ArrayLike
    p_weak: ArrayLike
    p_student: ArrayLike
    p_ceiling: ArrayLike


def _small(gap: float, gap_ci: Interval, min_gap: float) -> bool:
    return bool(gap < min_gap or gap_ci.contains(0.0) or np.isnan(gap_ci.low))


def _summarise(point: np.ndarray, reps: np.ndarray, alpha: float, min_gap: float) -> PGRResult:
    """Build the result from point accuracies (3,) and replicates (n_boot, 3),
    columns ordered weak, student, ceiling."""
    weak, student, ceiling = (float(v) for v in point)
    gap = ceiling - weak
    rep_gap = reps[:, 2] - reps[:, 0]
    defined = rep_gap != 0
    rep_pgr = (reps[defined, 1] - reps[defined, 0]) / rep_gap[defined]
    gap_ci = percentile_interval(rep_gap, alpha)
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
        small_gap=_small(gap, gap_ci, min_gap),
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


def pattern_bootstrap(correct: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, 3) accuracies of the three columns of ``correct`` (n, 3) under a
    paired bootstrap over its rows, drawn as a multinomial over all 8 patterns."""
    codes = correct.astype(np.int64) @ np.array([4, 2, 1])
    return multinomial_means(_PATTERNS, np.bincount(codes, minlength=8), n_boot, seed)


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
    """PGR of the student on one test split, with paired-bootstrap CIs (module docstring)."""
    correct = _correct((y_true, p_weak, p_student, p_ceiling), "pgr_with_ci")
    return _within_seed(correct, n_boot, seed, alpha, min_gap)


def _within_seed(
    correct: np.ndarray, n_boot: int, seed: int, alpha: float, min_gap: float
) -> PGRResult:
    reps = pattern_bootstrap(correct, n_boot, seed)
    return _summarise(correct.mean(axis=0), reps, alpha, min_gap)


def _interval(low: float, high: float) -> Interval:
    return Interval(float(low), float(high))


def pgr_over_seed_accuracies(
    acc: ArrayLike, alpha: float = 0.05, min_gap: float = DEFAULT_MIN_GAP
) -> PGRResult:
    """PGR and its intervals from per-seed accuracies ``acc`` (k, 3), columns weak,
    student, ceiling, k >= 2: t intervals and Fieller's (module docstring)."""
    a = np.asarray(acc, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or a.shape[0] < 2:
        raise ValueError(f"acc must be (k >= 2 seeds, 3) accuracies, got shape {a.shape}")
    weak, student, ceiling = (mean_ci(a[:, j], alpha) for j in range(3))
    gap = mean_ci(a[:, 2] - a[:, 0], alpha)
    ratio = ratio_ci(a[:, 1] - a[:, 0], a[:, 2] - a[:, 0], alpha)
    gap_ci = _interval(gap.low, gap.high)
    return PGRResult(
        # the same arithmetic as the single-seed point: exactly 0 / 1 at the ends
        pgr=pgr(weak.mean, student.mean, ceiling.mean),
        pgr_ci=_interval(ratio.low, ratio.high),
        weak_acc=weak.mean,
        weak_acc_ci=_interval(weak.low, weak.high),
        student_acc=student.mean,
        student_acc_ci=_interval(student.low, student.high),
        ceiling_acc=ceiling.mean,
        ceiling_acc_ci=_interval(ceiling.low, ceiling.high),
        gap=ceiling.mean - weak.mean,
        gap_ci=gap_ci,
        small_gap=_small(ceiling.mean - weak.mean, gap_ci, min_gap),
        n_boot=0,
        n_undefined=0,
        method=METHOD_SEEDS,
        n_seeds=len(a),
        pgr_bounded=ratio.bounded,
        fieller=ratio,
    )


def pgr_with_ci_over_seeds(
    groups: Sequence[SeedPredictions | Sequence[ArrayLike]],
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    min_gap: float = DEFAULT_MIN_GAP,
) -> PGRResult:
    """PGR of seed-averaged accuracies with intervals over seeds (module docstring).

    Each seed counts once, whatever the size of its test split. With one seed
    the result is :func:`pgr_with_ci` on it (``n_boot`` and ``seed`` are only
    used then) and ``method`` says so.
    """
    if not groups:
        raise ValueError("groups is empty: give at least one seed's predictions")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    correct = [_correct(g, f"groups[{i}]") for i, g in enumerate(groups)]
    if len(correct) == 1:
        return _within_seed(correct[0], n_boot, seed, alpha, min_gap)
    return pgr_over_seed_accuracies([c.mean(axis=0) for c in correct], alpha, min_gap)


def pgr_from_replicates(
    point: ArrayLike,
    reps: ArrayLike,
    alpha: float = 0.05,
    min_gap: float = DEFAULT_MIN_GAP,
    method: str = METHOD_BOOTSTRAP,
) -> PGRResult:
    """PGR and its percentile intervals from point accuracies (3,) and the replicates
    (n_boot, 3) of any paired bootstrap, columns weak, student, ceiling.

    For resampling units other than single items, e.g. the prompts that several
    comparisons share (:mod:`sandwich.rewards.pairwise`); ``method`` names the unit.
    """
    p = np.asarray(point, dtype=np.float64)
    r = np.asarray(reps, dtype=np.float64)
    if p.shape != (3,) or r.ndim != 2 or r.shape[1] != 3 or len(r) == 0:
        raise ValueError(f"need point (3,) and reps (n_boot, 3), got {p.shape} and {r.shape}")
    return _summarise(p, r, alpha, min_gap)._replace(method=method)
