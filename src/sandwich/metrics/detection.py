"""Operating-point metrics of a detector (a lie detector, a probe): AUROC and recall at a FPR.

Inputs: ``y_true`` (1 = positive, e.g. a lie; 0 = negative, e.g. an honest
answer) and ``scores``, any real numbers where higher means "more likely
positive" (probe logits, probabilities, ...).

Recall at a false-positive rate (:func:`recall_at_fpr`): the threshold is set
on the negatives only, as a detector is deployed (calibrated on honest data at
a tolerable false-alarm rate). With ``n_neg`` negatives and target rate
``fpr``, at most ``k = floor(fpr * n_neg)`` negatives may be flagged: the
threshold is the ``(k + 1)``-th highest negative score and an item is
flagged when its score is strictly above it. So the observed FPR is at most
``fpr`` (less when negatives tie at the threshold), and recall (TPR) is the
share of positives flagged. With ``n_neg < 1 / fpr`` no negative may be
flagged (``k = 0``: the threshold is the highest negative score).

Intervals: a stratified percentile bootstrap, positives and negatives resampled
separately (their counts stay fixed, as in the study design), the threshold
re-chosen on every resample of the negatives, so the interval holds the
threshold's own noise. AUROC (Mann-Whitney, ties count one half) uses the
same stratified bootstrap, vectorised over replicates (cumulative resample
counts over the sorted scores, no per-replicate sort). Coverage is
measured in ``tests/metrics/test_detection.py`` (binormal scores, where both
truths are known in closed form).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from sandwich.metrics._validate import as_arrays, check_labels
from sandwich.metrics.bootstrap import Interval, percentile_interval, resample_counts

DEFAULT_FPRS = (0.01, 0.05)


class RecallAtFPR(NamedTuple):
    """Recall at a target FPR, the threshold chosen on the negatives, with a CI."""

    fpr_target: float
    threshold: float
    recall: float
    ci: Interval
    fpr_observed: float  # share of negatives above the threshold (<= fpr_target)
    n_pos: int
    n_neg: int


class AUROCResult(NamedTuple):
    auroc: float
    ci: Interval
    n_pos: int
    n_neg: int


def split_scores(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(positive scores, negative scores); raises ValueError unless both classes occur."""
    a = as_arrays(y_true=y_true, scores=scores)
    y = check_labels(a["y_true"])
    if np.isinf(a["scores"]).any():
        raise ValueError("scores must be finite")
    pos, neg = a["scores"][y], a["scores"][~y]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError(
            f"detection metrics need both classes, got {len(pos)} positives and "
            f"{len(neg)} negatives"
        )
    return pos, neg


def _allowed(fpr: float, n_neg: int) -> int:
    """k: how many negatives the threshold may flag at rate ``fpr``."""
    if not 0 < fpr < 1:
        raise ValueError(f"fpr must be in (0, 1), got {fpr}")
    return int(np.floor(fpr * n_neg + 1e-9))


def threshold_at_fpr(neg_scores: ArrayLike, fpr: float) -> float:
    """The ``(k + 1)``-th highest negative score, ``k = floor(fpr * n_neg)`` (module docstring)."""
    neg = np.sort(np.asarray(neg_scores, dtype=np.float64))[::-1]
    if neg.size == 0:
        raise ValueError("threshold_at_fpr needs at least one negative score")
    return float(neg[_allowed(fpr, len(neg))])


def _boot_thresholds(neg_sorted: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """Per replicate (row of ``counts`` over ``neg_sorted``, ascending): the (k+1)-th highest.

    The counts of :func:`resample_counts` are exchangeable over items, so laying them
    over the sorted scores is the same bootstrap as over the original order.
    """
    from_top = np.cumsum(counts[:, ::-1], axis=1)  # negatives at or above each sorted score
    first = np.argmax(from_top > k, axis=1)
    return neg_sorted[::-1][first]


def recall_at_fpr(
    y_true: ArrayLike,
    scores: ArrayLike,
    fpr: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> RecallAtFPR:
    """Recall (TPR) at target ``fpr`` with a stratified bootstrap CI (module docstring)."""
    pos, neg = split_scores(y_true, scores)
    k = _allowed(fpr, len(neg))
    t = threshold_at_fpr(neg, fpr)
    neg_sorted, pos_sorted = np.sort(neg), np.sort(pos)
    t_boot = _boot_thresholds(neg_sorted, resample_counts(len(neg), n_boot, seed), k)
    # resampled positives above each replicate's threshold: counts at sorted index >= first
    first = np.searchsorted(pos_sorted, t_boot, side="right")
    pos_counts = resample_counts(len(pos), n_boot, seed + 1)
    tail = np.cumsum(pos_counts[:, ::-1], axis=1)[:, ::-1]
    tail = np.concatenate([tail, np.zeros((n_boot, 1), dtype=tail.dtype)], axis=1)
    reps = tail[np.arange(n_boot), first] / len(pos)
    return RecallAtFPR(
        fpr_target=float(fpr),
        threshold=t,
        recall=float(np.mean(pos > t)),
        ci=percentile_interval(reps, alpha),
        fpr_observed=float(np.mean(neg > t)),
        n_pos=len(pos),
        n_neg=len(neg),
    )


def auroc_ci(
    y_true: ArrayLike, scores: ArrayLike, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> AUROCResult:
    """AUROC of ``scores`` (any reals) with a stratified percentile bootstrap CI.

    Per positive, ``g`` = the number of negatives below it plus half of those
    tied with it; AUROC = sum(g) / (n_pos n_neg). A replicate reweights the
    negatives (cumulative counts over the sorted negatives give each
    positive's ``g``) and the positives (counts times ``g``).
    """
    pos, neg = split_scores(y_true, scores)
    n1, n0 = len(pos), len(neg)
    both = np.concatenate([pos, neg])
    ranks = rankdata(both)  # average ranks: ties count one half
    point = float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
    neg_sorted = np.sort(neg)
    below = np.searchsorted(neg_sorted, pos, side="left")  # negatives strictly below
    upto = np.searchsorted(neg_sorted, pos, side="right")  # ... or tied
    c_neg = resample_counts(n0, n_boot, seed)
    cum = np.concatenate([np.zeros((n_boot, 1)), np.cumsum(c_neg, axis=1)], axis=1)
    g = (cum[:, below] + cum[:, upto]) / 2.0  # (n_boot, n1): below + half the ties
    c_pos = resample_counts(n1, n_boot, seed + 1)
    reps = (g * c_pos).sum(axis=1) / (n1 * n0)
    return AUROCResult(point, percentile_interval(reps, alpha), n1, n0)


def detection_summary(
    y_true: ArrayLike,
    scores: ArrayLike,
    fprs: tuple[float, ...] = DEFAULT_FPRS,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[AUROCResult, tuple[RecallAtFPR, ...]]:
    """AUROC and recall at each of ``fprs`` (default 1% and 5%), all with CIs."""
    return auroc_ci(y_true, scores, n_boot, seed, alpha), tuple(
        recall_at_fpr(y_true, scores, f, n_boot, seed, alpha) for f in fprs
    )
