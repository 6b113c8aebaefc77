"""A scalar reward head on frozen features, fitted by Bradley-Terry: the CPU default reward model.

Bradley-Terry says ``P(a preferred to b) = sigmoid(r(a) - r(b))``; with a linear
reward ``r(x) = w . x`` that is a logistic regression on the feature
difference ``f_a - f_b`` with no intercept (an intercept would be a bias
towards whichever completion is shown first). The fit is:

- **standardised**: features are centred and scaled by their mean and standard
  deviation over every completion seen in ``fit`` (stored as ``mean_`` and
  ``scale_``), so the L2 penalty treats all dimensions alike, whatever the
  backbone's activation scales. Centring cancels in differences; it only sets
  the reward's zero at the mean completion.
- **symmetrised**: each comparison also enters as ``(b - a, 1 - p)``, so the
  fitted preference of (a, b) is exactly one minus that of (b, a) and the
  order in which a supervisor saw the pair cannot leak into the head.
- **soft**: ``p`` = P(a preferred) may be any value in [0, 1] (0.5 is a tie; a
  judge's averaged orders or a rater panel's vote share are soft). Each
  comparison enters as a row labelled 1 with weight ``p`` and a row labelled 0
  with weight ``1 - p``: the weighted log-loss is then exactly the
  cross-entropy against the soft label.

``l2`` is scikit-learn's ``1 / C``: the penalty ``l2 / 2 * |w|^2`` on the summed
(weighted, symmetrised, so twice the comparison count) log-loss.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits


def _features(x: ArrayLike, name: str, dim: int | None = None) -> np.ndarray:
    """A 2-d finite float array (rows = completions), of ``dim`` columns if given."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-d (completions, features), got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty: give at least one row")
    if dim is not None and a.shape[1] != dim:
        raise ValueError(f"{name} has {a.shape[1]} features, the head was fitted on {dim}")
    bad = ~np.isfinite(a)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{name} has a non-finite value in row {row}")
    return a


def _per_comparison(x: ArrayLike | None, name: str, n: int, default: float) -> np.ndarray:
    """A 1-d finite float array of length ``n`` (``default`` everywhere when ``x`` is None)."""
    if x is None:
        return np.full(n, default)
    a = np.asarray(x, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one per comparison), got {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{name} is not finite at comparison {int(np.flatnonzero(bad)[0])}")
    return a


class BradleyTerryHead:
    """A linear reward on standardised frozen features, fitted on pairwise preferences.

    Follows the estimator contract: ``__init__`` stores hyperparameters,
    ``fit`` returns ``self``, learned state ends in ``_`` (module docstring).
    """

    def __init__(self, l2: float = 1.0, random_state: int = 0) -> None:
        self.l2 = l2
        self.random_state = random_state

    def fit(
        self,
        feats_a: ArrayLike,
        feats_b: ArrayLike,
        pref: ArrayLike,
        weight: ArrayLike | None = None,
    ) -> Self:
        """Fit on comparisons (rows of ``feats_a`` vs the same rows of ``feats_b``).

        ``pref``: P(a preferred) per comparison in [0, 1]; ``weight``: an
        optional non-negative weight per comparison.
        """
        if not self.l2 > 0:
            raise ValueError(f"l2 must be > 0, got {self.l2}")
        fa = _features(feats_a, "feats_a")
        fb = _features(feats_b, "feats_b", fa.shape[1])
        n = fa.shape[0]
        if fb.shape[0] != n:
            raise ValueError(f"feats_a has {n} rows but feats_b has {fb.shape[0]}")
        p = _per_comparison(pref, "pref", n, 0.5)
        w = _per_comparison(weight, "weight", n, 1.0)
        if ((p < 0) | (p > 1)).any():
            i = int(np.flatnonzero((p < 0) | (p > 1))[0])
            raise ValueError(f"pref must be a probability in [0, 1], got {p[i]} at comparison {i}")
        if (w < 0).any() or not w.sum() > 0:
            raise ValueError("weight must be non-negative with a positive total")
        both = np.concatenate([fa, fb])
        self.mean_ = both.mean(axis=0)
        scale = both.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        diff = (fa - fb) / self.scale_
        x = np.concatenate([diff, diff, -diff, -diff])
        y = np.concatenate([np.ones(n), np.zeros(n), np.ones(n), np.zeros(n)])
        sw = np.concatenate([w * p, w * (1 - p), w * (1 - p), w * p])
        keep = sw > 0
        model = LogisticRegression(
            C=1.0 / self.l2, fit_intercept=False, random_state=self.random_state, max_iter=1000
        )
        # one BLAS thread, as the probe's fit (elicit/probe.py): lbfgs's matrix-vector
        # products are too small to share, and a second thread waiting on a core held by
        # torch (features, the policy) or other work slowed the fit many times over
        with threadpool_limits(1, user_api="blas"):
            model.fit(x[keep], y[keep], sample_weight=sw[keep])
        self.coef_ = model.coef_[0].copy()
        self.n_features_in_ = fa.shape[1]
        return self

    def _fitted(self) -> np.ndarray:
        coef: np.ndarray | None = getattr(self, "coef_", None)
        if coef is None:
            raise RuntimeError("BradleyTerryHead is not fitted: call fit(...) first")
        return coef

    @property
    def direction_(self) -> np.ndarray:
        """The reward direction in the raw feature space: ``r(x) = direction_ . x + const``."""
        return self._fitted() / self.scale_

    def reward(self, feats: ArrayLike) -> np.ndarray:
        """One scalar reward per row of ``feats`` (0 at the mean fitted completion)."""
        coef = self._fitted()
        f = _features(feats, "feats", self.n_features_in_)
        return np.asarray(((f - self.mean_) / self.scale_) @ coef, dtype=np.float64)

    def prob(self, feats_a: ArrayLike, feats_b: ArrayLike) -> np.ndarray:
        """P(a preferred to b) per row: ``sigmoid(reward(a) - reward(b))``."""
        ra, rb = self.reward(feats_a), self.reward(feats_b)
        if ra.shape != rb.shape:
            raise ValueError(f"feats_a has {len(ra)} rows but feats_b has {len(rb)}")
        return np.asarray(expit(ra - rb), dtype=np.float64)
