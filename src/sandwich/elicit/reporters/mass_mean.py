"""Mass-mean probe (``mass-mean``, Marks & Tegmark 2023): the difference of the class means.

With B's (soft) labels ``y``, the class means are weighted means,
``mu_+ = sum_i y_i x_i / sum_i y_i`` and ``mu_- = sum_i (1 - y_i) x_i / sum_i (1 - y_i)``,
and the direction is ``theta = mu_+ - mu_-``. With ``covariance=True`` (the
paper's "iid" variant, for in-distribution use) the direction is
``Sigma^-1 theta``, where ``Sigma`` is the covariance of the items around their
own class mean (``x_i - (y_i mu_+ + (1 - y_i) mu_-)``), shrunk towards a multiple
of the identity (``shrinkage``: a fixed weight in [0, 1], or ``"auto"``:
Ledoit-Wolf's), since B has fewer items than the features have dimensions.

Scores ``s = w . x`` go through a 1-D soft-label logistic regression on the same
labels (Platt scaling, weak L2), which sets the threshold and the scale of
P(true); the direction itself comes from the means alone.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self

import numpy as np
from pydantic import Field
from sklearn.covariance import ledoit_wolf

from sandwich.config import Strict
from sandwich.elicit.base import Elicitor, Solver
from sandwich.elicit.probe import fit_soft_logistic


def class_means(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu_+, mu_-): the means of ``X`` weighted by ``y`` and by ``1 - y``."""
    w_pos, w_neg = y.sum(), (1.0 - y).sum()
    if w_pos <= 0 or w_neg <= 0:
        raise ValueError("the labels are all of one class; class means need both")
    return (y @ X) / w_pos, ((1.0 - y) @ X) / w_neg


def within_class_covariance(
    X: np.ndarray, y: np.ndarray, shrinkage: float | Literal["auto"]
) -> np.ndarray:
    """Covariance of ``X`` around each item's (soft) class mean, shrunk towards the identity."""
    mu_pos, mu_neg = class_means(X, y)
    resid = X - (np.outer(y, mu_pos) + np.outer(1.0 - y, mu_neg))
    if shrinkage == "auto":
        cov, _ = ledoit_wolf(resid, assume_centered=True)
        return np.asarray(cov)
    emp = resid.T @ resid / len(resid)
    target = np.trace(emp) / emp.shape[0] * np.eye(emp.shape[0])
    return np.asarray((1.0 - shrinkage) * emp + shrinkage * target)


class MassMeanProbe(Elicitor):
    """Difference of class means of B's labels (optionally covariance-corrected), Platt-scaled."""

    solver: ClassVar[Solver] = "mass-mean"

    class Params(Strict):
        covariance: bool = Field(
            False,
            description="multiply by the inverse within-class covariance (Marks & Tegmark's "
            "iid variant); off: the plain difference of means",
        )
        shrinkage: Annotated[float, Field(ge=0.0, le=1.0)] | Literal["auto"] = Field(
            "auto",
            description="with covariance: weight of the identity target in [0, 1], or 'auto' "
            "(Ledoit-Wolf)",
        )

    hparams: Params

    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> Self:
        X = np.asarray(X, dtype=np.float64)
        y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
        if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
            raise ValueError(f"X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
        mu_pos, mu_neg = class_means(X, y)
        self.theta_ = mu_pos - mu_neg
        direction = self.theta_
        if self.hparams.covariance:
            cov = within_class_covariance(X, y, self.hparams.shrinkage)
            direction = np.linalg.solve(cov, self.theta_)
        self.direction_ = direction / np.linalg.norm(direction)
        self.midpoint_ = 0.5 * (mu_pos + mu_neg)
        s = self._scores(X)
        sd = float(s.std())
        self.scale_ = sd if sd > 0 else 1.0
        self.platt_ = fit_soft_logistic(
            (s / self.scale_)[:, None], y, C=1e4, max_iter=500, random_state=random_state
        )
        return self

    def _scores(self, X: np.ndarray) -> np.ndarray:
        s: np.ndarray = (np.asarray(X, dtype=np.float64) - self.midpoint_) @ self.direction_
        return s

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p: np.ndarray = self.platt_.predict_proba((self._scores(X) / self.scale_)[:, None])[:, 1]
        return p
