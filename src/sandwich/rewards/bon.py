"""Best-of-n against a proxy reward: the unbiased estimator, KL_bon, curves with CIs over prompts.

Best-of-n draws n completions of a prompt and keeps the one the proxy reward
model scores highest; the question is how good that completion is under the
gold reward. Drawing N >= n completions once per prompt suffices for every
n <= N (Nakano et al. 2021; Gao et al. 2022, appendix): sort the N samples by
proxy; the i-th smallest (1-based) is the proxy-maximum of a uniformly drawn
n-subset exactly when it is in the subset and the other n - 1 members are
below it, with probability ``C(i - 1, n - 1) / C(N, n)``. The weighted sum of
the sorted gold rewards is then the exact mean over all ``C(N, n)`` subsets:
an unbiased estimate of best-of-n's expected gold reward for the prompt, with
no resampling noise. Weights are computed in log space (``gammaln``), so N in
the thousands is fine.

Ties in the proxy are broken uniformly at random in expectation: within a block
of tied proxy values every member is equally likely to be kept, so each sorted
position carries its block's mean gold reward. This equals averaging over a
random tie-break of every subset exactly (``tests/rewards/stats/test_bon.py``
enumerates all subsets).

``KL_bon = log n - (n - 1) / n`` is the analytic KL divergence of the
best-of-n policy from the initial policy (the formula Gao et al. use; exact for
continuous proxies without ties; an upper bound when completions or proxy
values repeat, Beirami et al. 2024). Curves report
gold and proxy rewards per n with percentile intervals from a bootstrap over
prompts of the per-prompt estimates, and the same relative to n = 1 (the
initial policy's mean reward, Gao et al.'s zero), paired within prompts, so
their intervals are narrower than those of the raw rewards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln

from sandwich.metrics.bootstrap import Interval, percentile_interval, resample_counts

_NAN_INTERVAL = Interval(float("nan"), float("nan"))


class BonPoint(NamedTuple):
    """Best-of-n at one n, averaged over prompts, with percentile CIs over prompts.

    ``gold_gain`` / ``proxy_gain``: the reward minus that of n = 1 (each prompt's
    mean over its samples), the quantity Gao et al. fit against ``sqrt_kl``.
    """

    n: int
    kl: float
    sqrt_kl: float
    gold: float
    gold_ci: Interval
    proxy: float
    proxy_ci: Interval
    gold_gain: float = float("nan")
    gold_gain_ci: Interval = _NAN_INTERVAL
    proxy_gain: float = float("nan")
    proxy_gain_ci: Interval = _NAN_INTERVAL
    n_prompts: int = 0


def _ns(n: int | ArrayLike, upper: int | None = None) -> np.ndarray:
    """Integer sample counts >= 1 (and <= ``upper``), as an int64 array."""
    a = np.asarray(n)
    if a.size == 0:
        raise ValueError("n is empty: give at least one sample count")
    if not np.issubdtype(a.dtype, np.number) or np.any(a != np.round(a)) or np.any(a < 1):
        raise ValueError(f"n must be whole numbers >= 1, got {a.tolist()}")
    if upper is not None and np.any(a > upper):
        raise ValueError(f"n must be <= N = {upper} samples per prompt, got {a.tolist()}")
    return a.astype(np.int64)


def kl_bon(n: int | ArrayLike) -> np.ndarray:
    """KL of best-of-n from the initial policy: ``log n - (n - 1) / n`` (0 at n = 1)."""
    k = _ns(n).astype(np.float64)
    return np.asarray(np.log(k) - (k - 1) / k, dtype=np.float64)


def bon_weights(n_samples: int, n: int) -> np.ndarray:
    """(N,) probability that the i-th smallest of N samples is the maximum of a uniform
    n-subset: ``C(i - 1, n - 1) / C(N, n)``, in log space; sums to 1."""
    big, small = int(_ns(n_samples)), int(_ns(n, n_samples))
    i = np.arange(1, big + 1, dtype=np.float64)
    ok = i >= small
    log_w = np.full(big, -np.inf)
    log_w[ok] = (
        gammaln(i[ok]) - gammaln(small) - gammaln(i[ok] - small + 1)
        - (gammaln(big + 1) - gammaln(small + 1) - gammaln(big - small + 1))
    )  # fmt: skip
    w = np.exp(log_w)
    return np.asarray(w / w.sum(), dtype=np.float64)  # the sum is 1 up to rounding


def _samples(proxy: ArrayLike, gold: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(proxy, dtype=np.float64)
    g = np.asarray(gold, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0 or p.shape[0] == 0:
        raise ValueError(f"proxy must be 2-d (prompts, samples), non-empty; got shape {p.shape}")
    if g.shape != p.shape:
        raise ValueError(f"gold has shape {g.shape}, proxy {p.shape}: one reward per sample")
    for name, a in (("proxy", p), ("gold", g)):
        bad = ~np.isfinite(a)
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            raise ValueError(f"{name} is not finite at prompt {row}, sample {col}")
    return p, g


def sorted_by_proxy(proxy: ArrayLike, gold: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Each row sorted by proxy (ascending), gold averaged over blocks of tied proxy
    values (the expected gold of a uniform tie-break; module docstring)."""
    p, g = _samples(proxy, gold)
    order = np.argsort(p, axis=1, kind="stable")
    ps = np.take_along_axis(p, order, axis=1)
    gs = np.take_along_axis(g, order, axis=1)
    starts = np.ones(ps.shape, dtype=bool)
    starts[:, 1:] = ps[:, 1:] != ps[:, :-1]
    block = np.cumsum(starts.ravel()) - 1
    means = np.bincount(block, weights=gs.ravel()) / np.bincount(block)
    return ps, means[block].reshape(gs.shape)


def bon_estimates(
    proxy: ArrayLike, gold: ArrayLike, ns: Sequence[int] | ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """(prompts, len(ns)) unbiased best-of-n estimates of expected gold and proxy-max,
    per prompt, for every n in ``ns`` at once (module docstring)."""
    ps, gs = sorted_by_proxy(proxy, gold)
    big = ps.shape[1]
    w = np.stack([bon_weights(big, int(k)) for k in _ns(ns, big).ravel()], axis=1)  # (N, len(ns))
    return gs @ w, ps @ w


def bon_expected(proxy: ArrayLike, gold: ArrayLike, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per prompt (rows of N samples, N >= n): the unbiased estimate of the expected gold
    reward of best-of-n drawn without replacement, and of the expected proxy maximum."""
    g, p = bon_estimates(proxy, gold, [n])
    return g[:, 0], p[:, 0]


def _level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return 1.0 - level


def _intervals(reps: np.ndarray, alpha: float) -> list[Interval]:
    """Percentile interval of each column: one quantile call when all are finite."""
    if not np.isfinite(reps).all():
        return [percentile_interval(reps[:, j], alpha) for j in range(reps.shape[1])]
    low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2], axis=0)
    return [Interval(float(lo), float(hi)) for lo, hi in zip(low, high, strict=True)]


def bon_curve(
    proxy: ArrayLike,
    gold: ArrayLike,
    ns: Sequence[int] | ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[BonPoint]:
    """Best-of-n gold and proxy rewards (raw and relative to n = 1) for each n in ``ns``,
    averaged over prompts, with percentile intervals from one bootstrap over prompts
    shared by every n and quantity (so the curve's points are paired)."""
    alpha = _level(level)
    g, p = bon_estimates(proxy, gold, ns)
    base_g = np.asarray(gold, dtype=np.float64).mean(axis=1, keepdims=True)
    base_p = np.asarray(proxy, dtype=np.float64).mean(axis=1, keepdims=True)
    per_prompt = np.concatenate([g, p, g - base_g, p - base_p], axis=1)
    n_prompts = len(per_prompt)
    reps = resample_counts(n_prompts, n_boot, seed) @ per_prompt / n_prompts
    point = per_prompt.mean(axis=0)
    cis = _intervals(reps, alpha)
    k = g.shape[1]
    kls = kl_bon(ns).ravel()
    return [
        BonPoint(
            n=int(n),
            kl=float(kls[j]),
            sqrt_kl=float(np.sqrt(kls[j])),
            gold=float(point[j]),
            gold_ci=cis[j],
            proxy=float(point[k + j]),
            proxy_ci=cis[k + j],
            gold_gain=float(point[2 * k + j]),
            gold_gain_ci=cis[2 * k + j],
            proxy_gain=float(point[3 * k + j]),
            proxy_gain_ci=cis[3 * k + j],
            n_prompts=n_prompts,
        )
        for j, n in enumerate(_ns(ns).ravel())
    ]
