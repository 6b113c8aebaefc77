"""Logistic probe on frozen features, trained on soft labels (the naive baseline).

The soft-label cross-entropy is minimised exactly by giving each item two rows,
(x, 1) with weight p and (x, 0) with weight 1 - p, to scikit-learn's
``LogisticRegression``. The L2 strength is chosen on a held-out part of the
labels it is given (the supervisor's labels of B), never on gold.

No hyperparameter here was chosen on T: ``Cs`` is a fixed decade grid and
the choice within it is made per fit on held-out labels (``C_`` records it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sandwich.elicit.base import Elicitor
from sandwich.elicit.registry import ELICITORS


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
    clf.fit(Xd[keep], yd[keep], sample_weight=wd[keep])
    return clf


@ELICITORS.register("probe", summary="logistic probe on soft labels (naive weak-to-strong)")
class LogisticProbe(Elicitor):
    """Logistic regression on standardised features, trained on soft labels.

    ``Cs``: inverse L2 strengths to choose from on the held-out labels;
    ``val_fraction``: share of the given labels held out for that choice.
    """

    def __init__(
        self,
        Cs: Sequence[float] = (0.001, 0.01, 0.1, 1.0),
        val_fraction: float = 0.2,
        max_iter: int = 500,
    ) -> None:
        self.Cs = tuple(Cs)
        self.val_fraction = val_fraction
        self.max_iter = max_iter

    def check_params(self) -> None:
        if not self.Cs or any(c <= 0 for c in self.Cs):
            raise ValueError(f"Cs must be a non-empty list of positive numbers, got {self.Cs}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> Self:
        self.check_params()
        y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X)
        fit_idx, val_idx = holdout_split(len(X), self.val_fraction, random_state)
        self.val_losses_: dict[float, float] = {}
        if len(self.Cs) > 1 and len(val_idx):
            for C in self.Cs:
                clf = fit_soft_logistic(Xs[fit_idx], y[fit_idx], C, self.max_iter, random_state)
                p = clf.predict_proba(Xs[val_idx])[:, 1]
                self.val_losses_[C] = soft_log_loss(y[val_idx], p)
            self.C_ = min(self.val_losses_, key=lambda c: self.val_losses_[c])
        else:
            self.C_ = self.Cs[-1]
        self.model_ = fit_soft_logistic(Xs, y, self.C_, self.max_iter, random_state)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p: np.ndarray = self.model_.predict_proba(self.scaler_.transform(X))[:, 1]
        return p
