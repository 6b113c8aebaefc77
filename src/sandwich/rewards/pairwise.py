"""Pairwise accuracy, reward-model PGR and agreement on errors, with intervals clustered by prompt.

A comparison asks which of two completions of one prompt is better; ``gold``
is P(a preferred) under the gold reward (1, 0, or 0.5 on a gold tie). A
reward model (or any supervisor) is scored per comparison by
:func:`comparison_correct`: 1 when it orders a and b as gold does, 0 when it
reverses them, 1/2 when its scores tie (a coin flip would be right half the
time), and NaN on a gold tie (no right answer: such comparisons are left out
of every metric). Pairwise accuracy is the mean over the comparisons left.

Intervals: comparisons of one prompt share its completions and its
difficulty, so they are not independent; treating them as such makes the
interval too narrow (``tests/rewards/stats/test_pairwise.py`` measures it).
Every interval here is a **cluster bootstrap over prompts**: a replicate draws
prompts with replacement and keeps all of each drawn prompt's comparisons; the
statistic is the ratio of the drawn prompts' summed correctness to their
comparison count (prompt multiplicities from
:func:`sandwich.metrics.bootstrap.resample_counts`, times the per-prompt
sums). Reward-model PGR uses this bootstrap for the three accuracies
(weak supervisor, student reward model, ceiling reward model) jointly, so its
intervals are paired, and hands the replicates to the project's PGR summary
(:func:`sandwich.metrics.pgr_ci.pgr_from_replicates`): the same point, gap
and small-gap rules as every other PGR of sandwich.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from sandwich.metrics.bootstrap import Interval, percentile_interval, resample_counts
from sandwich.metrics.pgr_ci import DEFAULT_MIN_GAP, PGRResult, pgr_from_replicates

METHOD_PROMPTS = "paired cluster bootstrap over prompts (one seed)"


def _vector(x: ArrayLike, name: str, n: int | None = None, finite: bool = True) -> np.ndarray:
    """A 1-d float array, of length ``n`` if given; NaN/inf rejected when ``finite``."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-d (one value per comparison), got shape {a.shape}")
    if n is not None and len(a) != n:
        raise ValueError(f"{name} has {len(a)} values, expected {n} (one per comparison)")
    if finite and not np.isfinite(a).all():
        raise ValueError(
            f"{name} is not finite at comparison {int(np.flatnonzero(~np.isfinite(a))[0])}"
        )
    return a


def _gold(gold: ArrayLike, n: int | None = None) -> np.ndarray:
    g = _vector(gold, "gold", n)
    bad = (g < 0) | (g > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"gold must be P(a preferred) in [0, 1], got {g[i]} at comparison {i}")
    return g


def comparison_correct(score_a: ArrayLike, score_b: ArrayLike, gold: ArrayLike) -> np.ndarray:
    """Per comparison: 1 if the scores order (a, b) as gold does, 0 if reversed, 0.5 on
    a score tie, NaN on a gold tie (module docstring). Gold above 0.5 means a is better."""
    a = _vector(score_a, "score_a")
    b = _vector(score_b, "score_b", len(a))
    g = _gold(gold, len(a))
    if len(a) == 0:
        raise ValueError("no comparisons given")
    agree = np.sign(a - b) * np.sign(g - 0.5)
    out = (agree + 1) / 2  # 1 agree, 0 disagree, 0.5 score tie
    out[g == 0.5] = np.nan
    return out


def preference_correct(pref: ArrayLike, gold: ArrayLike) -> np.ndarray:
    """:func:`comparison_correct` of a supervisor's P(a preferred) (0.5 is a tie)."""
    p = _vector(pref, "pref")
    return comparison_correct(p, 1.0 - p, gold)


def pairwise_accuracy(score_a: ArrayLike, score_b: ArrayLike, gold: ArrayLike) -> float:
    """Share of the comparisons gold decides that the scores order as gold does
    (a score tie counts 1/2). Raises ``ValueError`` when gold decides none."""
    c = comparison_correct(score_a, score_b, gold)
    if np.isnan(c).all():
        raise ValueError("every comparison is a gold tie (gold = 0.5): accuracy is undefined")
    return float(np.nanmean(c))


def _cluster_codes(clusters: ArrayLike, n: int) -> np.ndarray:
    """Integer codes 0..K-1 of the prompt of each comparison (any hashable labels)."""
    c = np.asarray(clusters)
    if c.shape != (n,):
        raise ValueError(
            f"clusters must have shape ({n},) (one prompt id per comparison), got {c.shape}"
        )
    return np.unique(c, return_inverse=True)[1].ravel()


def cluster_bootstrap_means(
    values: np.ndarray, clusters: ArrayLike, n_boot: int, seed: int
) -> np.ndarray:
    """(n_boot, m) means of the columns of ``values`` (n, m) under a bootstrap over
    clusters: each replicate draws clusters with replacement and averages all
    rows of the drawn clusters (module docstring)."""
    codes = _cluster_codes(clusters, len(values))
    k = int(codes.max()) + 1
    sums = np.zeros((k, values.shape[1]))
    np.add.at(sums, codes, values)
    size = np.bincount(codes, minlength=k).astype(np.float64)
    drawn = resample_counts(k, n_boot, seed)  # (n_boot, K): how often each prompt is drawn
    return np.asarray((drawn @ sums) / (drawn @ size)[:, None], dtype=np.float64)


def _alpha(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return 1.0 - level


def pairwise_accuracy_ci(
    score_a: ArrayLike,
    score_b: ArrayLike,
    gold: ArrayLike,
    clusters: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, Interval]:
    """Pairwise accuracy with a percentile cluster-bootstrap interval over prompts.

    ``clusters``: the prompt id of each comparison (module docstring).
    """
    alpha = _alpha(level)
    c = comparison_correct(score_a, score_b, gold)
    codes = _cluster_codes(clusters, len(c))
    keep = ~np.isnan(c)
    if not keep.any():
        raise ValueError("every comparison is a gold tie (gold = 0.5): accuracy is undefined")
    reps = cluster_bootstrap_means(c[keep, None], codes[keep], n_boot, seed)
    return float(c[keep].mean()), percentile_interval(reps[:, 0], alpha)


def reward_pgr(
    weak_correct: ArrayLike,
    student_correct: ArrayLike,
    ceiling_correct: ArrayLike,
    clusters: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    min_gap: float = DEFAULT_MIN_GAP,
) -> PGRResult:
    """Reward-model PGR on the test comparisons with paired cluster-bootstrap intervals.

    The three vectors are per-comparison correctness on the same comparisons
    (:func:`comparison_correct` / :func:`preference_correct`): the weak
    supervisor's preferences, the reward model trained on them, and the same
    reward model trained on gold preferences. Gold ties (NaN, the same
    comparisons in all three) are left out.
    """
    alpha = _alpha(level)
    w = _vector(weak_correct, "weak_correct", finite=False)
    cols = [
        w,
        _vector(student_correct, "student_correct", len(w), finite=False),
        _vector(ceiling_correct, "ceiling_correct", len(w), finite=False),
    ]
    correct = np.column_stack(cols)
    nan = np.isnan(correct)
    if (nan.any(axis=1) != nan.all(axis=1)).any():
        i = int(np.flatnonzero(nan.any(axis=1) != nan.all(axis=1))[0])
        raise ValueError(
            f"comparison {i} is a gold tie (NaN) in some of weak/student/ceiling_correct but "
            "not all: the three must be scored on the same comparisons against the same gold"
        )
    if np.isinf(correct).any() or ((correct < 0) | (correct > 1)).any():
        raise ValueError("correctness values must lie in [0, 1] (NaN for a gold tie)")
    keep = ~nan[:, 0]
    if not keep.any():
        raise ValueError("every comparison is a gold tie: PGR is undefined")
    codes = _cluster_codes(clusters, len(w))
    reps = cluster_bootstrap_means(correct[keep], codes[keep], n_boot, seed)
    point = correct[keep].mean(axis=0)
    return pgr_from_replicates(point, reps, alpha, min_gap, method=METHOD_PROMPTS)


def agreement_on_errors(
    student_pref: ArrayLike, supervisor_pref: ArrayLike, gold: ArrayLike
) -> float:
    """On the comparisons where the supervisor prefers the completion gold ranks lower,
    the share where the student prefers it too (a student tie counts 1/2).

    1 means the student copies every mistake, 0 that it corrects every one;
    a student that ignored the supervisor's errors would agree about as often as
    it errs elsewhere. Preferences are P(a preferred); supervisor ties (0.5) and
    gold ties are not errors. NaN when the supervisor makes no error.
    """
    s = _vector(student_pref, "student_pref")
    v = _vector(supervisor_pref, "supervisor_pref", len(s))
    g = _gold(gold, len(s))
    wrong = np.sign(v - 0.5) * np.sign(g - 0.5) < 0
    if not wrong.any():
        return float("nan")
    same = np.sign(s[wrong] - 0.5) * np.sign(v[wrong] - 0.5)
    return float(np.mean((same + 1) / 2))
