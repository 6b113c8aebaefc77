"""Contrast-consistent search (``ccs``, Burns et al. 2022): a probe whose two halves agree.

A linear probe ``p(x) = sigmoid(w . x + b)`` on each normalised half
(:class:`~.contrast.PairNormaliser`) is trained, without labels, to minimise

    L = mean_i (p(pos_i) - (1 - p(neg_i)))**2 + mean_i min(p(pos_i), p(neg_i))**2

(consistency: the statement and its negation get complementary probabilities;
confidence: not both 0.5). P(true) of a pair is ``0.5 * (p(pos) + 1 - p(neg))``.
The loss is symmetric under ``(w, b) -> (-w, -b)``, which maps P to 1 - P, so
the direction is found up to its sign; the declared rule fixes it (:mod:`.contrast`).

Training as in the paper's code: full-batch AdamW, ``lr=1e-3``,
``weight_decay=0.01``, 1000 epochs, 10 random restarts (initialised like
``torch.nn.Linear``: uniform in +-1/sqrt(d)), the restart with the lowest final
loss kept. All restarts train at once (one (d, restarts) weight matrix), in
numpy with the gradient in closed form (a test checks it against finite
differences). Weight decay is decoupled and applies to ``w`` only.
Deterministic per ``random_state`` (the cell's seed).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field
from scipy.special import expit

from sandwich.elicit.base import Solver
from sandwich.elicit.reporters.contrast import ContrastReporter


def ccs_loss(p_pos: np.ndarray, p_neg: np.ndarray) -> np.ndarray:
    """Consistency + confidence loss, one per column of ``p_pos``/``p_neg`` (n, restarts)."""
    consistency = np.mean((p_pos - (1.0 - p_neg)) ** 2, axis=0)
    confidence = np.mean(np.minimum(p_pos, p_neg) ** 2, axis=0)
    loss: np.ndarray = consistency + confidence
    return loss


def ccs_grads(
    pos: np.ndarray, neg: np.ndarray, w: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loss, dL/dw, dL/db) per restart: ``w`` (d, r), ``b`` (r,), halves (n, d)."""
    n = len(pos)
    a, c = expit(pos @ w + b), expit(neg @ w + b)
    gap = a + c - 1.0
    a_lower = a < c  # min(a, c) is a (ties go to c; the gradient there is one-sided)
    d_a = (2.0 * gap + 2.0 * a * a_lower) / n
    d_c = (2.0 * gap + 2.0 * c * ~a_lower) / n
    g_pos, g_neg = d_a * a * (1.0 - a), d_c * c * (1.0 - c)
    return ccs_loss(a, c), pos.T @ g_pos + neg.T @ g_neg, (g_pos + g_neg).sum(axis=0)


class CCSReporter(ContrastReporter):
    """Contrast-consistent search: restarts trained at once, the best by final loss."""

    solver: ClassVar[Solver] = "ccs"

    class Params(ContrastReporter.Params):
        restarts: int = Field(10, ge=1, description="random initialisations; the lowest loss kept")
        epochs: int = Field(1000, ge=1, description="full-batch AdamW steps per restart")
        lr: float = Field(1e-3, gt=0.0, description="AdamW learning rate (Burns et al.: 1e-3)")
        weight_decay: float = Field(
            0.01, ge=0.0, description="decoupled weight decay on w (Burns et al.: 0.01)"
        )

    hparams: Params

    def _fit_raw(self, pos: np.ndarray, neg: np.ndarray, random_state: int) -> None:
        hp = self.hparams
        d = pos.shape[1]
        rng = np.random.default_rng([random_state, 2022])
        bound = 1.0 / np.sqrt(d)
        w = rng.uniform(-bound, bound, (d, hp.restarts))
        b = rng.uniform(-bound, bound, hp.restarts)
        params = [w, b]
        m = [np.zeros_like(x) for x in params]
        v = [np.zeros_like(x) for x in params]
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        for t in range(1, hp.epochs + 1):
            _, gw, gb = ccs_grads(pos, neg, w, b)
            w *= 1.0 - hp.lr * hp.weight_decay
            for x, g, mk, vk in zip(params, (gw, gb), m, v, strict=True):
                mk *= beta1
                mk += (1 - beta1) * g
                vk *= beta2
                vk += (1 - beta2) * g * g
                x -= hp.lr * (mk / (1 - beta1**t)) / (np.sqrt(vk / (1 - beta2**t)) + eps)
        self.losses_ = ccs_loss(expit(pos @ w + b), expit(neg @ w + b))
        best = int(np.argmin(self.losses_))
        self.coef_, self.intercept_ = w[:, best].copy(), float(b[best])
        self.loss_ = float(self.losses_[best])

    def _raw_proba(self, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        p_pos = expit(pos @ self.coef_ + self.intercept_)
        p_neg = expit(neg @ self.coef_ + self.intercept_)
        p: np.ndarray = 0.5 * (p_pos + 1.0 - p_neg)
        return p
