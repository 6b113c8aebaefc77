"""Scalar metrics of one set of predictions against gold labels (or another set).

Predictions ``p`` are probabilities of the positive class; the hard label of
``p`` is ``p > threshold`` (0.5 by default; a tie is negative). Every function
raises ``ValueError`` on empty input or mismatched lengths, naming the arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from sandwich.metrics._validate import as_arrays, check_labels, check_probs, hard


def _labels_and_probs(y_true: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = as_arrays(y_true=y_true, p=p)
    return check_labels(a["y_true"]), check_probs(a["p"], "p")


def accuracy(y_true: ArrayLike, p: ArrayLike, threshold: float = 0.5) -> float:
    """Share of items whose hard label ``p > threshold`` equals the gold label."""
    y, q = _labels_and_probs(y_true, p)
    return float(np.mean(hard(q, threshold) == y))


def brier(y_true: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error of the probabilities against the 0/1 gold labels."""
    y, q = _labels_and_probs(y_true, p)
    return float(np.mean((q - y) ** 2))


def auroc(y_true: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half).

    Returns ``nan`` when ``y_true`` holds a single class (AUROC is undefined).
    """
    y, q = _labels_and_probs(y_true, p)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(q, return_inverse=True, return_counts=True)
    # average rank (1-based) of each distinct value, ties sharing their mean rank
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    rank_sum = float(mean_rank[inverse][y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def ece(y_true: ArrayLike, p: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error, the standard top-label definition (Guo et al. 2017).

    Confidence is the probability of the predicted class, ``max(p, 1 - p)``;
    items fall into ``n_bins`` equal-width bins ``((m-1)/M, m/M]`` of
    confidence; ECE = sum over bins of (bin share) * |accuracy - mean confidence|.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    y, q = _labels_and_probs(y_true, p)
    pred = hard(q)
    conf = np.where(pred, q, 1.0 - q)
    correct = (pred == y).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    acc_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=conf, minlength=n_bins)
    return float(np.sum(np.abs(acc_sum - conf_sum)) / len(y))


def agreement(p_a: ArrayLike, p_b: ArrayLike) -> float:
    """Share of items on which two sets of predictions give the same hard label."""
    a = as_arrays(p_a=p_a, p_b=p_b)
    return float(np.mean(hard(check_probs(a["p_a"], "p_a")) == hard(check_probs(a["p_b"], "p_b"))))


def agreement_on_errors(
    y_true: ArrayLike, p_student: ArrayLike, p_supervisor: ArrayLike
) -> float | None:
    """Agreement of student and supervisor on the items the supervisor got wrong.

    High values mean the student imitates the supervisor's errors. ``None`` when
    the supervisor made no error (the quantity is undefined).
    """
    a = as_arrays(y_true=y_true, p_student=p_student, p_supervisor=p_supervisor)
    y = check_labels(a["y_true"])
    student = hard(check_probs(a["p_student"], "p_student"))
    supervisor = hard(check_probs(a["p_supervisor"], "p_supervisor"))
    wrong = supervisor != y
    if not wrong.any():
        return None
    return float(np.mean(student[wrong] == supervisor[wrong]))


def pgr(weak: float, student: float, ceiling: float) -> float:
    """Performance gap recovered, (student - weak) / (ceiling - weak).

    ``nan`` if ceiling == weak. Exactly 0 when student == weak and exactly 1
    when student == ceiling.
    """
    gap = ceiling - weak
    if gap == 0:
        return float("nan")
    return (student - weak) / gap


def small_test_warning(n_test: int, min_n: int = 200) -> str | None:
    """A warning message when the test split is too small for a meaningful CI, else None."""
    if n_test >= min_n:
        return None
    return (
        f"only {n_test} test items (fewer than {min_n}): accuracy CIs are about "
        f"±{1.96 * 0.5 / max(n_test, 1) ** 0.5:.2f} wide at worst and PGR CIs wider; "
        "use a larger test split for conclusions"
    )
