"""Pairwise accuracy, reward-model PGR and agreement on errors; their intervals cover.

Coverage is simulated with a known truth, following tests/metrics/test_coverage.py:
2000 replications (Monte Carlo SE about 0.005), a calibrated 95% interval lands
in [0.93, 0.97]. Comparisons are clustered by prompt through a Gaussian copula:
comparison ``j`` of prompt ``k`` has latent ``sqrt(rp) z_k + sqrt(ri) z_kj +
sqrt(1 - rp - ri) e`` (prompt difficulty ``z_k``, comparison difficulty ``z_kj``
shared by the models, the model's own noise ``e``) and a model is right when it
falls below ``Phi^-1(acc)``: accuracies are exactly the given ones.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from sandwich.metrics.pgr_ci import pattern_bootstrap, pgr_from_replicates, pgr_with_ci
from sandwich.rewards.pairwise import (
    METHOD_PROMPTS,
    agreement_on_errors,
    cluster_bootstrap_means,
    comparison_correct,
    pairwise_accuracy,
    pairwise_accuracy_ci,
    preference_correct,
    reward_pgr,
)

N_REP = 2000
LOW, HIGH = 0.93, 0.97


def _latent(rng: np.random.Generator, k: int, m: int, models: int, rp: float, ri: float):
    z = rng.standard_normal((k, 1, 1))
    zi = rng.standard_normal((k, m, 1))
    e = rng.standard_normal((k, m, models))
    return (math.sqrt(rp) * z + math.sqrt(ri) * zi + math.sqrt(1 - rp - ri) * e).reshape(
        k * m, models
    )


def _correct(rng: np.random.Generator, acc: list[float], k: int, m: int, rp: float, ri: float):
    """(k * m, models) correctness with exact marginal accuracies ``acc`` (module docstring)."""
    return _latent(rng, k, m, len(acc), rp, ri) < norm.ppf(acc)


def _as_scores(rng: np.random.Generator, outcome: np.ndarray):
    """Scores of a and b and gold (random orientation) realising per-comparison outcomes
    1 (right), 0.5 (score tie) and 0 (wrong)."""
    gold = (rng.random(len(outcome)) < 0.5).astype(float)
    sign = np.where(gold == 1, 1.0, -1.0) * np.sign(2 * outcome - 1)
    score_a = rng.standard_normal(len(outcome))
    return score_a, score_a - sign * rng.random(len(outcome)), gold


def test_comparison_correct_follows_gold_and_counts_ties_half() -> None:
    c = comparison_correct([2, 1, 3, 0, 5], [1, 2, 3, 1, 4], [1, 1, 0, 0, 0.5])
    np.testing.assert_array_equal(c, [1, 0, 0.5, 1, np.nan])
    assert pairwise_accuracy([2, 1, 3, 0, 5], [1, 2, 3, 1, 4], [1, 1, 0, 0, 0.5]) == 0.625
    np.testing.assert_array_equal(preference_correct([0.9, 0.5, 0.2], [1, 0, 1]), [1, 0.5, 0])
    # soft gold: only its side of 0.5 matters
    assert comparison_correct([1.0], [0.0], [0.7])[0] == 1


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([1, 2], [1], [1, 0]), "score_b has 1 values, expected 2"),
        (
            ([1, 2], [1, 0], [1, 2]),
            r"gold must be P\(a preferred\) in \[0, 1\], got 2.0 at comparison 1",
        ),
        (([[1]], [1], [1]), "score_a must be 1-d"),
        (([1, np.nan], [1, 0], [1, 0]), "score_a is not finite at comparison 1"),
        (([], [], []), "no comparisons given"),
    ],
)
def test_bad_comparisons_raise(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        comparison_correct(*args)


def test_all_gold_ties_raise() -> None:
    with pytest.raises(ValueError, match="every comparison is a gold tie"):
        pairwise_accuracy([1, 2], [2, 1], [0.5, 0.5])
    with pytest.raises(ValueError, match="every comparison is a gold tie"):
        pairwise_accuracy_ci([1, 2], [2, 1], [0.5, 0.5], ["p", "q"])


def test_cluster_bootstrap_resamples_whole_prompts() -> None:
    """One prompt with all comparisons right, one with all wrong, of different sizes:
    each replicate is a ratio of drawn prompts' sums, so only those values occur."""
    values = np.array([1.0, 1.0, 1.0, 0.0])
    reps = cluster_bootstrap_means(values[:, None], ["x", "x", "x", "y"], 4000, seed=0)[:, 0]
    assert set(np.round(reps, 12)) == {0.0, 0.75, 1.0}  # yy, xy/yx, xx
    assert np.mean(reps == 0.75) == pytest.approx(0.5, abs=0.03)


def test_accuracy_ci_contains_the_point_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    out = (_correct(rng, [0.7], 60, 3, 0.3, 0.3)[:, 0]).astype(float)
    a, b, g = _as_scores(rng, out)
    clusters = np.repeat(np.arange(60), 3)
    acc, ci = pairwise_accuracy_ci(a, b, g, clusters, n_boot=500, seed=3)
    assert acc == pytest.approx(out.mean())
    assert ci.low < acc < ci.high
    assert pairwise_accuracy_ci(a, b, g, clusters, n_boot=500, seed=3) == (acc, ci)


def _accuracy_coverage(
    acc: float,
    tie: float,
    k: int,
    m: int,
    rp: float,
    ri: float,
    by_prompt: bool,
    seed: int,
    n_rep: int = N_REP,
) -> float:
    """Coverage of pairwise_accuracy_ci for a model right with probability ``acc``
    and tied with probability ``tie`` (truth: acc + tie / 2)."""
    rng = np.random.default_rng(seed)
    clusters = np.repeat(np.arange(k), m) if by_prompt else np.arange(k * m)
    hits = 0
    for r in range(n_rep):
        lat = _latent(rng, k, m, 1, rp, ri)[:, 0]
        out = np.where(lat < norm.ppf(acc), 1.0, np.where(lat < norm.ppf(acc + tie), 0.5, 0.0))
        a, b, g = _as_scores(rng, out)
        hits += pairwise_accuracy_ci(a, b, g, clusters, n_boot=500, seed=r)[1].contains(
            acc + tie / 2
        )
    return hits / n_rep


def test_accuracy_interval_over_prompts_is_calibrated() -> None:
    c = _accuracy_coverage(0.7, 0.1, k=120, m=4, rp=0.4, ri=0.2, by_prompt=True, seed=1)
    assert LOW <= c <= HIGH, c


def test_accuracy_interval_over_comparisons_would_undercover() -> None:
    """Why the bootstrap is over prompts: treating the comparisons of a prompt as
    independent gives too narrow an interval when prompts differ in difficulty."""
    c = _accuracy_coverage(0.7, 0.1, k=120, m=4, rp=0.4, ri=0.2, by_prompt=False, seed=1)
    assert c < 0.88, c


def _pgr_coverage(
    accs: list[float], k: int, m: int, rp: float, seed: int, n_rep: int = N_REP
) -> tuple[float, ...]:
    """Coverage of reward_pgr's PGR, accuracy and gap intervals."""
    rng = np.random.default_rng(seed)
    w, s, c = accs
    truths = [(s - w) / (c - w), w, s, c, c - w]
    clusters = np.repeat(np.arange(k), m)
    hits = np.zeros(5)
    for r in range(n_rep):
        x = _correct(rng, accs, k, m, rp, 0.3).astype(float)
        res = reward_pgr(x[:, 0], x[:, 1], x[:, 2], clusters, n_boot=500, seed=r)
        cis = [res.pgr_ci, res.weak_acc_ci, res.student_acc_ci, res.ceiling_acc_ci, res.gap_ci]
        hits += [ci.contains(t) for ci, t in zip(cis, truths, strict=True)]
    return tuple(hits / n_rep)


def test_reward_pgr_intervals_are_calibrated() -> None:
    cov = _pgr_coverage([0.65, 0.72, 0.82], k=150, m=3, rp=0.3, seed=2)
    assert all(LOW <= c <= HIGH for c in cov), cov


def test_reward_pgr_is_the_project_pgr_on_the_comparisons() -> None:
    """Point values match metrics.pgr_with_ci on the same correctness; the interval
    names its resampling unit; gold-tie rows are dropped from all three."""
    rng = np.random.default_rng(4)
    x = _correct(rng, [0.6, 0.7, 0.8], 100, 3, 0.3, 0.3).astype(float)
    clusters = np.repeat(np.arange(100), 3)
    res = reward_pgr(x[:, 0], x[:, 1], x[:, 2], clusters, n_boot=300, seed=0)
    ones = np.ones(len(x))
    ref = pgr_with_ci(ones, x[:, 0], x[:, 1], x[:, 2], n_boot=300)
    assert (res.pgr, res.weak_acc, res.student_acc, res.ceiling_acc, res.gap) == pytest.approx(
        (ref.pgr, ref.weak_acc, ref.student_acc, ref.ceiling_acc, ref.gap)
    )
    assert res.method == METHOD_PROMPTS and res.n_boot == 300
    x[:5] = np.nan
    dropped = reward_pgr(x[:, 0], x[:, 1], x[:, 2], clusters, n_boot=300, seed=0)
    assert dropped.weak_acc == pytest.approx(np.nanmean(x[:, 0]))


def test_reward_pgr_rejects_mismatched_comparisons() -> None:
    w = np.array([1.0, 0.0, np.nan])
    with pytest.raises(ValueError, match="comparison 2 is a gold tie"):
        reward_pgr(w, np.array([1.0, 0.0, 1.0]), w, ["a", "b", "c"])
    with pytest.raises(ValueError, match="student_correct has 2 values, expected 3"):
        reward_pgr(w, [1, 0], w, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"clusters must have shape \(3,\)"):
        reward_pgr(w, w, w, ["a", "b"])
    with pytest.raises(ValueError, match="level must be in"):
        reward_pgr(w, w, w, ["a", "b", "c"], level=95)


def test_agreement_on_errors() -> None:
    gold = np.array([1, 1, 1, 0, 0, 0.5, 1])
    supervisor = np.array([0.2, 0.3, 0.9, 0.8, 0.5, 0.1, 0.4])  # wrong on 0, 1, 3 and 6
    student = np.array([0.1, 0.7, 0.0, 0.9, 0.9, 0.9, 0.5])  # copies 0 and 3, not 1, ties 6
    assert agreement_on_errors(student, supervisor, gold) == pytest.approx(2.5 / 4)
    assert agreement_on_errors(supervisor, supervisor, gold) == 1.0
    assert math.isnan(agreement_on_errors(student, gold, gold))


def test_reward_pgr_properties() -> None:
    """PGR of the weak preferences themselves is 0, of the ceiling's 1; the result does
    not depend on the order of the comparisons (prompts are resampled, not rows)."""
    rng = np.random.default_rng(6)
    x = _correct(rng, [0.6, 0.7, 0.8], 80, 3, 0.3, 0.3).astype(float)
    clusters = np.repeat([f"p{i}" for i in range(80)], 3)
    w, s, c = x.T
    assert reward_pgr(w, w, c, clusters, n_boot=200).pgr == 0.0
    assert reward_pgr(w, c, c, clusters, n_boot=200).pgr == 1.0
    perm = rng.permutation(len(x))
    here = reward_pgr(w, s, c, clusters, n_boot=200, seed=1)
    shuffled = reward_pgr(w[perm], s[perm], c[perm], clusters[perm], n_boot=200, seed=1)
    assert here.pgr == pytest.approx(shuffled.pgr)
    assert here.pgr_ci == pytest.approx(shuffled.pgr_ci) and here.gap_ci == pytest.approx(
        shuffled.gap_ci
    )


def test_pgr_from_replicates_is_the_summary_of_pgr_with_ci() -> None:
    """Given pgr_with_ci's own replicates, the public summary reproduces its result."""
    rng = np.random.default_rng(7)
    x = _correct(rng, [0.6, 0.7, 0.8], 100, 2, 0.3, 0.3)
    ones = np.ones(len(x))
    ref = pgr_with_ci(ones, *(x[:, j].astype(float) for j in range(3)), n_boot=400, seed=5)
    reps = pattern_bootstrap(x, 400, 5)
    assert pgr_from_replicates(x.mean(axis=0), reps) == ref
    assert pgr_from_replicates(x.mean(axis=0), reps, method="m").method == "m"
    with pytest.raises(ValueError, match=r"need point \(3,\) and reps \(n_boot, 3\)"):
        pgr_from_replicates(x.mean(axis=0), reps[:, :2])
