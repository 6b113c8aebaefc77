"""Logistic probe on frozen features, trained on soft labels (the naive baseline).

The soft-label cross-entropy is minimised exactly by giving each item two rows,
(x, 1) with weight p and (x, 0) with weight 1 - p, to scikit-learn's
``LogisticRegression``. The L2 strength is chosen on a held-out part of the
labels it is given (the supervisor's labels of B), never on gold.

No hyperparameter here was chosen on T: ``Cs`` is a fixed decade grid and
the choice within it is made per fit on held-out labels (``C_`` records it).
"""

from __future__ import annotations

from typing import Annotated, Self

import numpy as np
from pydantic import Field
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sandwich.config import Strict
from sandwich.elicit.base import Elicitor


def soft_log_loss(y: np.ndarray, p: np.ndarray, eps: float = 1e-7) -> float:
    """Mean cross-entropy of predictions ``p`` against soft targets ``y``."""
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def holdout_split(n: int, fraction: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, held_out) for model selection; held_out may be empty."""
    rng = np.random.default_rng([random_state, 104729])
    order = rng.permutation(n)
    n_val = round(n * fraction) if n >= 10 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def fit_soft_logistic(
    X: np.ndarray, y: np.ndarray, C: float, max_iter: int, random_state: int
) -> LogisticRegression:
    Xd = np.concatenate([X, X])
    yd = np.concatenate([np.ones(len(X)), np.zeros(len(X))])
    wd = np.concatenate([y, 1.0 - y])
    keep = wd > 0
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=random_state)
    if len(np.unique(yd[keep])) < 2:  # all labels identical: a constant predictor
        raise ValueError("the supervisor's labels are all identical; a probe cannot be fit")
    # one BLAS thread: lbfgs's matrix-vector products are too small to share, and a second
    # thread waiting on a core that torch's OpenMP threads (or other work) hold made the
    # fit 10-200x slower (docs/planning.md "Probe fits")
    with threadpool_limits(1, user_api="blas"):
        clf.fit(Xd[keep], yd[keep], sample_weight=wd[keep])
    return clf


class LogisticProbe(Elicitor):
    """Logistic regression on standardised features, trained on soft labels."""

    class Params(Strict):
        Cs: tuple[Annotated[float, Field(gt=0)], ...] = Field(
            (0.001, 0.01, 0.1, 1.0),
            min_length=1,
            description="inverse L2 strengths, the one with the lowest held-out loss is kept",
        )
        val_fraction: float = Field(
            0.2, ge=0.0, lt=1.0, description="share of the given labels held out to choose C"
        )
        max_iter: int = Field(500, ge=1, description="lbfgs iterations")

    hparams: Params

    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> Self:
        hp = self.hparams
        y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X)
        fit_idx, val_idx = holdout_split(len(X), hp.val_fraction, random_state)
        self.val_losses_: dict[float, float] = {}
        if len(hp.Cs) > 1 and len(val_idx):
            for C in hp.Cs:
                clf = fit_soft_logistic(Xs[fit_idx], y[fit_idx], C, hp.max_iter, random_state)
                p = clf.predict_proba(Xs[val_idx])[:, 1]
                self.val_losses_[C] = soft_log_loss(y[val_idx], p)
            self.C_ = min(self.val_losses_, key=lambda c: self.val_losses_[c])
        else:
            self.C_ = hp.Cs[-1]
        self.model_ = fit_soft_logistic(Xs, y, self.C_, hp.max_iter, random_state)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p: np.ndarray = self.model_.predict_proba(self.scaler_.transform(X))[:, 1]
        return p
