"""Calibration: ECE under both binnings, reliability-diagram data, and the coverage of ECE's CI.

Coverage scenario: top-label confidence ``c ~ U(0.55, 1)``, the predicted class
is positive or negative at random and right with probability ``c - delta``, so
the model is overconfident by exactly ``delta`` in every bin and the true ECE
is ``delta`` under either binning. 1000 replications (Monte Carlo SE ~ 0.007),
500 bootstrap replicates each, fixed seeds; 95% nominal must give [0.93, 0.97].
"""

from __future__ import annotations

import numpy as np
import pytest

from sandwich.metrics import pointwise
from sandwich.metrics.bootstrap import percentile_interval, resample_counts
from sandwich.metrics.calibration import (
    Binning,
    _bin_sums,
    bin_index,
    confidence_and_correct,
    ece,
    ece_ci,
    reliability_diagram,
)

N_REP = 1000
LOW, HIGH = 0.93, 0.97


def simulate(rng: np.random.Generator, n: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, p) of a model overconfident by ``delta`` (module docstring)."""
    c = rng.uniform(0.55, 1.0, n)
    right = rng.random(n) < c - delta
    positive = rng.random(n) < 0.5
    p = np.where(positive, c, 1.0 - c)
    return np.where(right, positive, ~positive).astype(np.float64), p


def test_width_ece_is_the_pointwise_ece() -> None:
    y, p = simulate(np.random.default_rng(0), 500, 0.1)
    assert ece(y, p) == pytest.approx(pointwise.ece(y, p))
    assert ece(y, p, n_bins=7) == pytest.approx(pointwise.ece(y, p, n_bins=7))


def test_reliability_diagram_by_hand() -> None:
    # confidences 0.85, 0.85, 0.65, 0.72 (p = 0.15 predicts negative with confidence 0.85)
    y = np.array([1, 1, 0, 1.0])
    p = np.array([0.85, 0.15, 0.35, 0.72])
    bins = reliability_diagram(y, p, n_bins=10, binning="width")
    assert [b.n for b in bins] == [1, 1, 2]
    assert [(b.low, b.high) for b in bins] == [(0.6, 0.7), (0.7, 0.8), (0.8, 0.9)]
    assert [b.confidence for b in bins] == pytest.approx([0.65, 0.72, 0.85])
    assert [b.accuracy for b in bins] == [1.0, 1.0, 0.5]  # p=0.15 says negative, gold is 1
    assert ece(y, p) == pytest.approx((0.35 + 0.28 + 2 * 0.35) / 4)
    mass = reliability_diagram(y, p, n_bins=2, binning="mass")
    assert [b.n for b in mass] == [2, 2]
    assert (mass[0].low, mass[0].high) == (pytest.approx(0.65), pytest.approx(0.72))
    assert ece(y, p, n_bins=2, binning="mass") == pytest.approx((2 * 0.315 + 2 * 0.35) / 4)


def test_mass_bins_hold_equal_counts() -> None:
    y, p = simulate(np.random.default_rng(1), 1003, 0.05)
    conf, _ = confidence_and_correct(y, p)
    counts = np.bincount(bin_index(conf, 10, "mass"))
    assert counts.max() - counts.min() <= 1 and counts.sum() == 1003
    assert 0 <= ece(y, p, binning="mass") <= 1


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="binning must be one of"):
        ece(np.r_[1.0], np.r_[0.7], binning="quantile")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_bins must be >= 1"):
        ece(np.r_[1.0], np.r_[0.7], n_bins=0)
    with pytest.raises(ValueError, match="probabilities in"):
        ece_ci(np.r_[1.0], np.r_[1.7])


def _coverage(n: int, delta: float, binning: Binning, n_rep: int) -> float:
    rng = np.random.default_rng(11)  # the same stream for every scenario
    hits = [
        ece_ci(*simulate(rng, n, delta), binning=binning, n_boot=500, seed=r).ci.contains(delta)
        for r in range(n_rep)
    ]
    return float(np.mean(hits))


@pytest.mark.parametrize("binning", ["width", "mass"])
def test_ece_interval_is_calibrated(binning: Binning) -> None:
    c = _coverage(300, 0.1, binning, N_REP)
    print(f"ECE coverage ({binning}, 300 items, ECE 0.1): {c}")
    assert LOW <= c <= HIGH, c


def test_shift_corrects_the_plain_percentile_near_calibration() -> None:
    """1000 items, 2 points of overconfidence: the plain percentile interval of the
    replicates sits on the biased-up estimate and under-covers; the shifted one does not."""
    rng = np.random.default_rng(1)
    plain, shifted = [], []
    for r in range(300):
        y, p = simulate(rng, 1000, 0.02)
        conf, right = confidence_and_correct(y, p)
        bins = bin_index(conf, 10, "width")
        w = resample_counts(1000, 400, r).astype(np.float64)
        _, c, k = _bin_sums(w, bins, conf, right.astype(np.float64), 10)
        plain.append(percentile_interval(np.abs(k - c).sum(axis=1) / 1000).contains(0.02))
        shifted.append(ece_ci(y, p, n_boot=400, seed=r).ci.contains(0.02))
    print(f"coverage at ECE 0.02, 1000 items: plain {np.mean(plain)}, shifted {np.mean(shifted)}")
    assert np.mean(plain) < 0.85 < 0.9 < np.mean(shifted), (np.mean(plain), np.mean(shifted))


def test_interval_does_not_cover_a_perfectly_calibrated_model() -> None:
    """The documented limit: at a true ECE of 0 every estimate lies above the truth."""
    c = _coverage(1000, 0.0, "width", 200)
    print(f"coverage at ECE 0, 1000 items: {c}")
    assert c < 0.5, c
