"""Coverage of the judge's remaining intervals: ``judge_accuracy``'s CI, the
consultancy split (``split_accuracy``) and position bias (``paired_split``).

Simulated judge: item ``i`` has a latent difficulty ``z_i ~ N(0, 1)``; in
condition ``k`` (the right answer shown first / second, or the consultant
arguing for the right / wrong answer) the judge's evidence for the right
answer is ``L = mu_k - sd * z_i + e`` with ``e ~ N(0, 1)``. The judge reports
``P(right) = Phi(L)`` when ``|L| > tie`` and exactly 0.5 otherwise (it picked
the same slot in both orders, or could not decide), so ties fall on the
borderline items as the real judge's do.

Estimand: the functions score an item 1 above 0.5, 0 below and 1/2 at a tie,
so the population quantity is the expected score
``P(L > tie) + P(|L| <= tie) / 2 = (Phi((mu - tie) / s) + Phi((mu + tie) / s)) / 2``
with ``s = sqrt(1 + sd^2)``; not ``P(P(right) > 0.5)`` (ties as wrong) nor the
mean of ``P(right)``. The position bias's truth is the difference of the two
conditions' expected scores.

2000 replications per interval (Monte Carlo SE ~ 0.005), fixed seeds; 95%
nominal must give [0.93, 0.97]. The accuracies' intervals are Wilson score
intervals (no resampling); ``paired_split``'s difference is a paired
bootstrap with the pipeline default of 1000 replicates. Strong judges
(expected score 0.94-0.99) are the case the percentile bootstrap got wrong.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest
from scipy.stats import norm

from sandwich.metrics.judge import (
    judge_accuracy,
    paired_split,
    split_accuracy,
    wilson_interval,
)

N_REP = 2000
N_BOOT = 1000
LOW, HIGH = 0.93, 0.97


class Judge(NamedTuple):
    """Latent means of the two conditions, item-difficulty sd and the tie band."""

    mu: tuple[float, float] = (0.9, 0.5)
    sd: float = 0.8
    tie: float = 0.15

    def expected_score(self, k: int) -> float:
        """Population accuracy in condition ``k`` with a tie counted as 1/2."""
        s = math.sqrt(1 + self.sd**2)
        m = self.mu[k]
        return float((norm.cdf((m - self.tie) / s) + norm.cdf((m + self.tie) / s)) / 2)


def simulate(rng: np.random.Generator, judge: Judge, n_rep: int, n: int) -> np.ndarray:
    """(n_rep, n, 2) judge P(right) per replication, item and condition (same items)."""
    z = rng.standard_normal((n_rep, n, 1))
    latent = np.asarray(judge.mu) - judge.sd * z + rng.standard_normal((n_rep, n, 2))
    return np.where(np.abs(latent) <= judge.tie, 0.5, norm.cdf(latent))


def _coverage(hits: list[bool]) -> tuple[float, float]:
    c = float(np.mean(hits))
    return c, math.sqrt(c * (1 - c) / len(hits))


def judge_accuracy_coverage(judge: Judge, n: int, seed: int) -> tuple[float, float]:
    """Coverage of ``judge_accuracy(p).ci`` for the expected score of condition 0."""
    p = simulate(np.random.default_rng(seed), judge, N_REP, n)[:, :, 0]
    truth = judge.expected_score(0)
    return _coverage(
        [judge_accuracy(p[r], n_boot=N_BOOT, seed=r).ci.contains(truth) for r in range(N_REP)]
    )


def paired_split_coverage(judge: Judge, n: int, seed: int) -> dict[str, tuple[float, float]]:
    """Coverage of ``paired_split``'s first, second and difference intervals."""
    p = simulate(np.random.default_rng(seed), judge, N_REP, n)
    t1, t2 = judge.expected_score(0), judge.expected_score(1)
    hits: dict[str, list[bool]] = {"first": [], "second": [], "diff": []}
    for r in range(N_REP):
        s = paired_split(p[r, :, 0], p[r, :, 1], n_boot=N_BOOT, seed=r)
        hits["first"].append(s.first.ci.contains(t1))
        hits["second"].append(s.second.ci.contains(t2))
        hits["diff"].append(s.diff_ci.contains(t1 - t2))
    return {k: _coverage(v) for k, v in hits.items()}


def split_accuracy_coverage(
    judge: Judge, n: int, seed: int, share_right: float = 0.5
) -> dict[str, tuple[float, float]]:
    """Coverage of ``split_accuracy``'s right / wrong intervals: condition 0 is the
    consultant arguing for the right answer (a random ``share_right`` of items),
    condition 1 for the wrong one; the truths are the conditional expected scores."""
    rng = np.random.default_rng(seed)
    p = simulate(rng, judge, N_REP, n)
    right = rng.random((N_REP, n)) < share_right
    observed = np.where(right, p[:, :, 0], p[:, :, 1])
    t_right, t_wrong = judge.expected_score(0), judge.expected_score(1)
    hits: dict[str, list[bool]] = {"right": [], "wrong": []}
    for r in range(N_REP):
        s = split_accuracy(observed[r], right[r], n_boot=N_BOOT, seed=r)
        assert s.right is not None and s.wrong is not None
        hits["right"].append(s.right.ci.contains(t_right))
        hits["wrong"].append(s.wrong.ci.contains(t_wrong))
    return {k: _coverage(v) for k, v in hits.items()}


def test_simulated_judge_has_the_known_expected_scores_and_ties() -> None:
    judge = Judge()
    p = simulate(np.random.default_rng(0), judge, 1, 200_000)[0]
    scores = np.where(p > 0.5, 1.0, np.where(p < 0.5, 0.0, 0.5))
    assert scores.mean(axis=0) == pytest.approx(
        [judge.expected_score(0), judge.expected_score(1)], abs=0.004
    )
    assert 0.05 < np.mean(p == 0.5) < 0.15  # ties are common, as with the real judge
    # the estimand counts a tie as 1/2: it lies strictly between "ties wrong" and "ties right"
    assert np.mean(p[:, 0] > 0.5) < judge.expected_score(0) < np.mean(p[:, 0] >= 0.5)
    # and the same items are hard in both conditions (the pairing matters)
    assert np.corrcoef(scores.T)[0, 1] > 0.2


@pytest.mark.parametrize("n", [50, 200])
def test_judge_accuracy_is_calibrated(n: int) -> None:
    c, se = judge_accuracy_coverage(Judge(), n, seed=10 + n)
    assert LOW <= c <= HIGH, f"judge_accuracy n={n}: {c:.3f} ± {se:.3f}"


@pytest.mark.parametrize(("n", "mu"), [(50, 2.5), (100, 2.0), (100, 3.0)])
def test_judge_accuracy_is_calibrated_for_a_strong_judge(n: int, mu: float) -> None:
    """Expected scores 0.974 (mu 2.5), 0.94 (mu 2) and 0.99 (mu 3): the percentile
    bootstrap this replaced covered 0.802, 0.900 and 0.731 here (it cannot reach past the observed
    share near 1)."""
    c, se = judge_accuracy_coverage(Judge(mu=(mu, 0.5)), n, seed=40 + n)
    assert LOW <= c <= HIGH, f"judge_accuracy n={n} mu={mu}: {c:.3f} ± {se:.3f}"


def test_paired_split_position_bias_is_calibrated() -> None:
    cov = paired_split_coverage(Judge(), 200, seed=20)
    for name, (c, se) in cov.items():
        assert LOW <= c <= HIGH, f"paired_split {name} n=200: {c:.3f} ± {se:.3f}"


def test_paired_split_is_calibrated_for_a_strong_judge() -> None:
    """Expected scores 0.974 shown first, 0.824 second, 100 items: the old percentile
    bootstrap covered the first condition 0.865 of the time (0.924 at 200 items)."""
    cov = paired_split_coverage(Judge(mu=(2.5, 1.2)), 100, seed=160)
    for name, (c, se) in cov.items():
        assert LOW <= c <= HIGH, f"paired_split {name} n=100 strong: {c:.3f} ± {se:.3f}"


def test_split_accuracy_consultancy_is_calibrated() -> None:
    cov = split_accuracy_coverage(Judge(mu=(1.2, -0.2)), 200, seed=30)
    for name, (c, se) in cov.items():
        assert LOW <= c <= HIGH, f"split_accuracy {name} n=200: {c:.3f} ± {se:.3f}"


def test_wilson_interval_values_and_errors() -> None:
    right10, wrong10 = np.ones(10), np.zeros(10)
    assert wilson_interval(right10).high == 1.0 and wilson_interval(wrong10).low == 0.0
    assert wilson_interval(right10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(wrong10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(np.arange(100) % 2) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    # ties (score 1/2) vary less than right/wrong with the same mean: a narrower interval
    ties = wilson_interval(np.array([1.0] * 40 + [0.5] * 20 + [0.0] * 40))
    no_ties = wilson_interval(np.array([1.0] * 50 + [0.0] * 50))
    assert ties.high - ties.low < no_ties.high - no_ties.low
    assert judge_accuracy([0.5, 0.5]).ci == wilson_interval(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="non-empty"):
        wilson_interval(np.array([]))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        wilson_interval(np.array([1.5]))


def test_split_accuracy_is_calibrated_when_the_judge_follows_a_right_consultant() -> None:
    """Expected scores 0.974 (consultant right, ~100 items) and 0.438 (wrong): the
    old percentile bootstrap covered the first 0.887 of the time."""
    cov = split_accuracy_coverage(Judge(mu=(2.5, -0.2)), 200, seed=70)
    for name, (c, se) in cov.items():
        assert LOW <= c <= HIGH, f"split_accuracy {name} n=200 strong: {c:.3f} ± {se:.3f}"
