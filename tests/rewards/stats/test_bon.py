"""The unbiased best-of-n estimator against enumeration and resampling; KL_bon; curve CIs cover."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from scipy import integrate
from scipy.special import comb
from scipy.stats import norm

from sandwich.rewards.bon import (
    BonPoint,
    bon_curve,
    bon_estimates,
    bon_expected,
    bon_weights,
    kl_bon,
    sorted_by_proxy,
)


def _exhaustive(proxy: np.ndarray, gold: np.ndarray, n: int) -> tuple[float, float]:
    """Mean over every n-subset of (gold of the proxy-argmax, the tied maxima averaged:
    a uniform tie-break) and of the proxy maximum."""
    golds, maxes = [], []
    for subset in itertools.combinations(range(len(proxy)), n):
        s = np.array(subset)
        top = proxy[s].max()
        golds.append(gold[s][proxy[s] == top].mean())
        maxes.append(top)
    return float(np.mean(golds)), float(np.mean(maxes))


@pytest.mark.parametrize("ties", [False, True])
def test_matches_exhaustive_enumeration_of_subsets(ties: bool) -> None:
    rng = np.random.default_rng(0)
    big = 9
    proxy = rng.integers(0, 4, (5, big)).astype(float) if ties else rng.standard_normal((5, big))
    gold = rng.standard_normal((5, big))
    for n in range(1, big + 1):
        g, p = bon_expected(proxy, gold, n)
        want = np.array([_exhaustive(proxy[r], gold[r], n) for r in range(5)])
        np.testing.assert_allclose(g, want[:, 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(p, want[:, 1], rtol=0, atol=1e-12)


def test_matches_monte_carlo_resampling_within_its_error() -> None:
    """Random n-subsets without replacement, argmax with a random tie-break."""
    rng = np.random.default_rng(1)
    big, n, draws = 64, 8, 40000
    proxy = np.round(rng.standard_normal(big), 1)  # ~30 distinct values: many ties
    gold = proxy + rng.standard_normal(big)
    subsets = np.argsort(rng.random((draws, big)), axis=1)[:, :n]
    p = proxy[subsets] + 1e-9 * rng.random((draws, n))  # the random tie-break
    picked = subsets[np.arange(draws), np.argmax(p, axis=1)]
    mc = gold[picked]
    est, _ = bon_expected(proxy[None], gold[None], n)
    assert abs(est[0] - mc.mean()) < 4 * mc.std() / math.sqrt(draws)


def test_one_sample_gives_the_mean_and_all_samples_the_argmax() -> None:
    rng = np.random.default_rng(2)
    proxy, gold = rng.standard_normal((4, 32)), rng.standard_normal((4, 32))
    g1, p1 = bon_expected(proxy, gold, 1)
    np.testing.assert_allclose(g1, gold.mean(axis=1))
    np.testing.assert_allclose(p1, proxy.mean(axis=1))
    g_all, p_all = bon_expected(proxy, gold, 32)
    np.testing.assert_allclose(g_all, gold[np.arange(4), proxy.argmax(axis=1)])
    np.testing.assert_allclose(p_all, proxy.max(axis=1))


def test_ties_at_the_top_average_their_gold() -> None:
    proxy = np.array([[1.0, 3.0, 3.0, 2.0]])
    gold = np.array([[10.0, 0.0, 1.0, 5.0]])
    assert bon_expected(proxy, gold, 4)[0][0] == pytest.approx(0.5)
    ps, gs = sorted_by_proxy(proxy, gold)
    np.testing.assert_array_equal(ps, [[1, 2, 3, 3]])
    np.testing.assert_array_equal(gs, [[10, 5, 0.5, 0.5]])


@pytest.mark.parametrize("big", [1, 7, 64, 1024])
def test_weights_are_the_subset_maximum_distribution(big: int) -> None:
    for n in sorted({1, 2, big // 2, big - 1, big} & set(range(1, big + 1))):
        w = bon_weights(big, n)
        assert w.shape == (big,) and (w >= 0).all() and w[: n - 1].sum() == 0
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
        if big <= 64:  # exact binomials where they are representable
            i = np.arange(1, big + 1)
            np.testing.assert_allclose(w, comb(i - 1, n - 1) / comb(big, n), rtol=1e-9)
    # the expected rank of the maximum of n out of N uniform draws: n (N + 1) / (n + 1)
    w = bon_weights(1024, 32)
    assert w @ np.arange(1, 1025) == pytest.approx(32 * 1025 / 33, rel=1e-10)


def test_kl_bon_formula() -> None:
    np.testing.assert_allclose(
        kl_bon([1, 2, 4, 1024]), [0, np.log(2) - 0.5, np.log(4) - 0.75, np.log(1024) - 1023 / 1024]
    )
    assert float(kl_bon(1)) == 0.0
    with pytest.raises(ValueError, match="whole numbers >= 1"):
        kl_bon([0, 2])
    with pytest.raises(ValueError, match="whole numbers >= 1"):
        kl_bon(2.5)


def test_kl_bon_is_the_kl_of_best_of_n_for_a_continuous_reward() -> None:
    """Best-of-n of a continuous reward has density n F^(n-1) relative to the initial
    policy: KL = E[log(n F^(n-1))] under it = log n - (n - 1) / n."""
    for n in (2, 8, 32):
        kl, _ = integrate.quad(lambda u, n=n: n * u ** (n - 1) * np.log(n * u ** (n - 1)), 0, 1)
        assert float(kl_bon(n)) == pytest.approx(kl, abs=1e-7)


@pytest.mark.parametrize(
    ("proxy", "gold", "n", "match"),
    [
        (np.zeros(4), np.zeros(4), 1, "proxy must be 2-d"),
        (np.zeros((2, 4)), np.zeros((2, 3)), 1, r"gold has shape \(2, 3\), proxy \(2, 4\)"),
        (np.zeros((2, 4)), np.zeros((2, 4)), 5, "n must be <= N = 4"),
        (np.zeros((2, 4)), np.full((2, 4), np.nan), 1, "gold is not finite at prompt 0, sample 0"),
    ],
)
def test_bad_input_raises(proxy: np.ndarray, gold: np.ndarray, n: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bon_expected(proxy, gold, n)


def test_curve_points_and_their_gains() -> None:
    rng = np.random.default_rng(3)
    gold = rng.standard_normal((50, 16))
    proxy = gold + rng.standard_normal((50, 16))
    ns = [1, 2, 4, 16]
    curve = bon_curve(proxy, gold, ns, n_boot=300, seed=0)
    g, p = bon_estimates(proxy, gold, ns)
    assert [c.n for c in curve] == ns and all(c.n_prompts == 50 for c in curve)
    for j, c in enumerate(curve):
        assert isinstance(c, BonPoint)
        assert c.kl == pytest.approx(float(kl_bon(c.n))) and c.sqrt_kl == pytest.approx(
            math.sqrt(c.kl)
        )
        assert c.gold == pytest.approx(g[:, j].mean()) and c.proxy == pytest.approx(p[:, j].mean())
        assert c.gold_gain == pytest.approx(c.gold - curve[0].gold)
        assert c.proxy_gain == pytest.approx(c.proxy - curve[0].proxy)
        for point, ci in [
            (c.gold, c.gold_ci),
            (c.proxy, c.proxy_ci),
            (c.gold_gain, c.gold_gain_ci),
        ]:
            assert ci.low <= point <= ci.high
    assert curve[0].gold_gain_ci == pytest.approx((0.0, 0.0), abs=1e-12)
    # paired within prompts: the gain is known more precisely than the reward itself
    last = curve[-1]
    assert last.gold_gain_ci.high - last.gold_gain_ci.low < last.gold_ci.high - last.gold_ci.low
    assert curve[-1].proxy > curve[-1].gold > curve[0].gold  # a noisy proxy overstates the gain


def _expected_max(n: int) -> float:
    """E[max of n iid standard normals]."""
    f = lambda x: x * n * norm.pdf(x) * norm.cdf(x) ** (n - 1)  # noqa: E731
    return float(integrate.quad(f, -np.inf, np.inf)[0])


def _bon_coverage(n_rep: int, seed: int, sigma: float = 1.0) -> dict[str, np.ndarray]:
    """Coverage of bon_curve's gold, proxy and gold-gain intervals at n = 1, 4, 16 (the
    gain from n = 4 on: at n = 1 it is 0 by construction). Gold = prompt offset m + x,
    proxy = m + x + sigma e (all normal): best-of-n's expected gold is
    E[max of n]/sqrt(1 + sigma^2), its proxy E[max of n] sqrt(1 + sigma^2). Each
    simulated study has 60 prompts x 16 samples."""
    ns = [1, 4, 16]
    e = np.array([_expected_max(n) for n in ns])
    truth = {
        "gold": e / math.sqrt(1 + sigma**2),
        "proxy": e * math.sqrt(1 + sigma**2),
        "gold_gain": e / math.sqrt(1 + sigma**2),
    }
    rng = np.random.default_rng(seed)
    hits = {k: np.zeros(len(ns)) for k in truth}
    for r in range(n_rep):
        m = 0.7 * rng.standard_normal((60, 1))
        x = rng.standard_normal((60, 16))
        gold, proxy = m + x, m + x + sigma * rng.standard_normal((60, 16))
        for j, pt in enumerate(bon_curve(proxy, gold, ns, n_boot=500, seed=r)):
            for k in truth:
                hits[k][j] += getattr(pt, f"{k}_ci").contains(truth[k][j])
    cover = {k: v / n_rep for k, v in hits.items()}
    cover["gold_gain"] = cover["gold_gain"][1:]
    return cover


def test_curve_intervals_over_prompts_are_calibrated() -> None:
    """2000 simulated studies; 95% intervals in [0.93, 0.97] (tests/metrics/test_coverage.py)."""
    cover = _bon_coverage(2000, seed=4)
    assert all(0.93 <= c <= 0.97 for v in cover.values() for c in v), cover


def test_curve_is_fast_on_a_realistic_size() -> None:
    """200 prompts x 64 samples, n = 1..64 by powers of 2, 1000 replicates: measured
    about 0.05 s (benchmarks/bon_curve.py); the bound leaves room for a loaded CI machine."""
    rng = np.random.default_rng(5)
    gold = rng.standard_normal((200, 64))
    proxy = gold + rng.standard_normal((200, 64))
    start = time.perf_counter()
    bon_curve(proxy, gold, [1, 2, 4, 8, 16, 32, 64], n_boot=1000, seed=0)
    assert time.perf_counter() - start < 1.0
