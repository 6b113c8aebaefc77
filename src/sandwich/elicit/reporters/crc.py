"""Contrastive representation clustering (``crc``): the top principal direction of pair differences.

Burns et al. (2022, the CRC baseline) and EleutherAI's ``elk``: with each half
normalised on B (:class:`~.contrast.PairNormaliser`), the differences
``D = pos_n - neg_n`` (n, d) are centred (each half is), and the reporter's
direction ``w`` is the top right singular vector of ``D`` (the top principal
component: the direction along which the pairs differ most). Closed form, no
labels, no seed. The score of a pair is ``s = (pos_n - neg_n) @ w``; P(true) is
``sigmoid(s / sd_B(s))`` (scores scaled to unit spread on B: a ranking, not a
calibrated probability). The sign of ``w`` is the declared rule's
(:mod:`.contrast`).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.special import expit

from sandwich.elicit.base import Solver
from sandwich.elicit.reporters.contrast import ContrastReporter


def top_direction(diffs: np.ndarray) -> np.ndarray:
    """The top right singular vector of ``diffs`` (n, d), unit norm (sign as the SVD gives it)."""
    _, _, vt = np.linalg.svd(diffs, full_matrices=False)
    direction: np.ndarray = vt[0]
    return direction


class CRCReporter(ContrastReporter):
    """Top principal direction of the normalised contrast-pair differences (closed form)."""

    solver: ClassVar[Solver] = "crc"

    hparams: ContrastReporter.Params

    def _fit_raw(self, pos: np.ndarray, neg: np.ndarray, random_state: int) -> None:
        self.direction_ = top_direction(pos - neg)
        sd = float(((pos - neg) @ self.direction_).std())
        self.scale_ = sd if sd > 0 else 1.0

    def _raw_proba(self, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        p: np.ndarray = expit((pos - neg) @ self.direction_ / self.scale_)
        return p
