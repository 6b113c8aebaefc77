"""Gao et al.'s over-optimisation forms, fitted by least squares on (sqrt(KL), reward) points.

Gao, Schulman and Hilton (2022), "Scaling laws for reward model
overoptimization", find that the gold reward of a policy optimised against a
proxy reward model follows, with ``d = sqrt(KL(policy || initial))`` and
rewards relative to the initial policy (0 at d = 0):

- best-of-n: ``R(d) = d (alpha - beta d)`` (:func:`fit_bon`)
- RL:        ``R(d) = d (alpha - beta log d)`` (:func:`fit_rl`)

Both are linear in (alpha, beta), so the fit is ordinary least squares with
regressors ``(d, -d^2)`` or ``(d, -d log d)``, no intercept (the forms pass
through the origin; ``d log d`` is taken as its limit 0 at d = 0). Quality:
``r2`` is the usual centred ``1 - SS_res / SS_tot`` (it can be negative when
the form is worse than a constant), ``rmse`` the root mean squared residual.
The fitted curve's maximum: for best-of-n at ``d* = alpha / (2 beta)`` with
``R* = alpha^2 / (4 beta)``; for RL, ``R'(d) = alpha - beta (log d + 1) = 0`` at
``d* = exp(alpha / beta - 1)`` with ``R* = beta d*``. With ``beta <= 0`` the
fitted gold reward never turns down (no over-optimisation within the form):
``peak_d`` and ``peak_r`` are None (also when an RL peak lies beyond any float).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from sandwich.rewards.bon import BonPoint

Form = Literal["bon", "rl"]


@dataclass(frozen=True)
class GaoFit:
    """One fitted Gao form: parameters, fit quality and the fitted curve's peak."""

    form: Form
    alpha: float
    beta: float
    r2: float
    rmse: float
    peak_d: float | None  # argmax of the fitted curve; None when beta <= 0
    peak_r: float | None  # the fitted reward there
    n_points: int

    def predict(self, d: ArrayLike) -> np.ndarray:
        """The fitted reward at ``d`` (>= 0)."""
        x = _distances(d, "d")
        return np.asarray(_design(self.form, x) @ np.array([self.alpha, self.beta]))


def _distances(d: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(d, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {x.shape}")
    if not np.isfinite(x).all() or (x < 0).any():
        raise ValueError(f"{name} must be finite and >= 0 (it is sqrt(KL))")
    return x


def _design(form: Form, d: np.ndarray) -> np.ndarray:
    """Regressors of alpha and beta: R = alpha * col0 + beta * col1."""
    if form == "bon":
        return np.column_stack([d, -(d**2)])
    safe = np.where(d > 0, d, 1.0)
    return np.column_stack([d, -np.where(d > 0, d * np.log(safe), 0.0)])


def _peak(form: Form, alpha: float, beta: float) -> tuple[float | None, float | None]:
    if not beta > 0:
        return None, None
    if form == "bon":
        return alpha / (2 * beta), alpha**2 / (4 * beta)
    log_d = alpha / beta - 1
    if log_d > np.log(np.finfo(np.float64).max):  # beta ~ 0: the peak is beyond any float
        return None, None
    d = float(np.exp(log_d))
    return d, beta * d


def _fit(form: Form, d: ArrayLike, r: ArrayLike) -> GaoFit:
    x = _distances(d, "d")
    y = np.asarray(r, dtype=np.float64)
    if y.shape != x.shape:
        raise ValueError(f"r has shape {y.shape}, d {x.shape}: one reward per point")
    if not np.isfinite(y).all():
        raise ValueError("r must be finite")
    design = _design(form, x)
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    if rank < 2:
        raise ValueError(
            f"cannot fit the {form} form: need at least 2 distinct d > 0, "
            f"got {sorted(set(x.tolist()))}"
        )
    alpha, beta = float(coef[0]), float(coef[1])
    resid = y - design @ coef
    ss_res = float(resid @ resid)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    peak_d, peak_r = _peak(form, alpha, beta)
    return GaoFit(
        form=form,
        alpha=alpha,
        beta=beta,
        r2=1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        rmse=float(np.sqrt(ss_res / len(y))),
        peak_d=peak_d,
        peak_r=peak_r,
        n_points=len(y),
    )


def fit_bon(d: ArrayLike, r: ArrayLike) -> GaoFit:
    """Least-squares fit of ``r = d (alpha - beta d)`` (best-of-n; module docstring)."""
    return _fit("bon", d, r)


def fit_rl(d: ArrayLike, r: ArrayLike) -> GaoFit:
    """Least-squares fit of ``r = d (alpha - beta log d)`` (RL; module docstring)."""
    return _fit("rl", d, r)


def relative(r: ArrayLike, baseline: float) -> np.ndarray:
    """Rewards relative to the initial policy's (``baseline``: its mean reward, the n = 1
    or step-0 value), Gao et al.'s zero."""
    return np.asarray(r, dtype=np.float64) - float(baseline)


def fit_bon_curve(points: Sequence[BonPoint], reward: Literal["gold", "proxy"] = "gold") -> GaoFit:
    """:func:`fit_bon` on a best-of-n curve: the gains over n = 1 against ``sqrt_kl``."""
    d = [p.sqrt_kl for p in points]
    r = [p.gold_gain if reward == "gold" else p.proxy_gain for p in points]
    return fit_bon(d, r)
