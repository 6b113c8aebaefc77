"""Detection metrics: AUROC and recall at a FPR, their definitions and the coverage of their CIs.

Coverage: binormal scores, negatives ``N(0, 1)`` and positives ``N(d, 1)``, so
the truths are closed-form: AUROC ``Phi(d / sqrt(2))`` and recall at FPR ``f``
``1 - Phi(Phi^-1(1 - f) - d)``. 1000 replications (Monte Carlo SE ~ 0.007),
400 bootstrap replicates each, fixed seeds; 95% nominal must give [0.93, 0.97].
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from sandwich.metrics.bootstrap import percentile_interval, resample_indices
from sandwich.metrics.detection import (
    auroc_ci,
    detection_summary,
    recall_at_fpr,
    threshold_at_fpr,
)
from sandwich.metrics.pointwise import auroc

N_REP = 1000
LOW, HIGH = 0.93, 0.97


def _data(seed: int = 0, n_pos: int = 100, n_neg: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    return y, np.round(rng.standard_normal(n_pos + n_neg) + 1.5 * y, 1)  # rounded: ties


def test_threshold_flags_at_most_the_allowed_negatives() -> None:
    neg = np.arange(100.0)  # 0 .. 99
    assert threshold_at_fpr(neg, 0.05) == 94.0  # 5 negatives (95..99) lie above it
    assert threshold_at_fpr(neg, 0.01) == 98.0
    assert threshold_at_fpr(np.arange(50.0), 0.01) == 49.0  # k = 0: nothing flagged
    y = np.r_[np.ones(4), np.zeros(100)]
    r = recall_at_fpr(y, np.r_[[99.5, 97.0, 94.5, 10.0], neg], 0.05, n_boot=50)
    assert r.threshold == 94.0 and r.fpr_observed == 0.05 and r.recall == 0.75


def test_auroc_point_and_interval_match_sklearn_and_a_plain_bootstrap() -> None:
    y, s = _data()
    res = auroc_ci(y, s, n_boot=1000, seed=0)
    assert res.auroc == pytest.approx(roc_auc_score(y, s))
    assert res.auroc == pytest.approx(auroc(y, (s - s.min()) / (s.max() - s.min())))
    # the same stratified bootstrap written out one replicate at a time
    pos, neg = s[:100], s[100:]
    reps = [
        roc_auc_score(y, np.r_[pos[a], neg[b]])
        for a, b in zip(
            resample_indices(100, 1000, 11), resample_indices(300, 1000, 12), strict=True
        )
    ]
    slow = percentile_interval(reps)
    assert res.ci.low == pytest.approx(slow.low, abs=0.015)
    assert res.ci.high == pytest.approx(slow.high, abs=0.015)


def test_recall_interval_matches_a_plain_stratified_bootstrap() -> None:
    y, s = _data()
    pos, neg = s[:100], s[100:]
    for fpr in (0.01, 0.05):
        res = recall_at_fpr(y, s, fpr, n_boot=2000, seed=0)
        k = int(np.floor(fpr * 300))
        reps = [
            np.mean(pos[a] > np.sort(neg[b])[::-1][k])
            for a, b in zip(resample_indices(100, 2000, 11), resample_indices(300, 2000, 12),
                            strict=True)
        ]  # fmt: skip
        slow = percentile_interval(reps)
        assert res.recall == pytest.approx(np.mean(pos > res.threshold))
        assert abs(res.ci.low - slow.low) <= 0.03 and abs(res.ci.high - slow.high) <= 0.03


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="both classes"):
        auroc_ci(np.ones(5), np.arange(5.0))
    with pytest.raises(ValueError, match="fpr must be in"):
        recall_at_fpr(np.r_[1.0, 0.0], np.r_[1.0, 0.0], fpr=0.0)
    with pytest.raises(ValueError, match="same length"):
        detection_summary(np.r_[1.0, 0.0], np.r_[1.0, 0.0, 3.0])


def _coverage(n_pos: int, n_neg: int, d: float, n_rep: int) -> np.ndarray:
    """Coverage of the AUROC, recall@1% and recall@5% intervals over simulated data sets."""
    truth = {f: float(norm.sf(norm.isf(f) - d)) for f in (0.01, 0.05)}
    true_auc = float(norm.cdf(d / np.sqrt(2)))
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    hits = np.zeros((n_rep, 3), dtype=bool)
    for r in range(n_rep):
        s = rng.standard_normal(n_pos + n_neg) + d * y
        auc, recalls = detection_summary(y, s, n_boot=400, seed=r)
        hits[r, 0] = auc.ci.contains(true_auc)
        hits[r, 1:] = [rc.ci.contains(truth[rc.fpr_target]) for rc in recalls]
    print(f"coverage (AUROC, recall@1%, recall@5%) at {n_pos}/{n_neg}:", hits.mean(axis=0))
    return hits.mean(axis=0)


def test_recall_and_auroc_intervals_cover_quick() -> None:
    """The quick check (500 replications, MC SE ~ 0.01, so [0.92, 0.98])."""
    coverage = _coverage(100, 500, 2.0, 500)
    assert np.all((coverage >= 0.92) & (coverage <= 0.98)), coverage


@pytest.mark.integration
def test_recall_and_auroc_intervals_are_calibrated() -> None:
    """1000 replications at 200 positives and 1000 negatives (~40 s on a loaded 2-core CPU)."""
    coverage = _coverage(200, 1000, 2.0, N_REP)
    assert np.all((coverage >= LOW) & (coverage <= HIGH)), coverage
