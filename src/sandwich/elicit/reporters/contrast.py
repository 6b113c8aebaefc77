"""What the contrast-pair reporters share: per-pair normalisation, the sign rule, the base class.

A contrast pair is an item framed as true (``pos``) and as false (``neg``)
(:mod:`sandwich.tasks.contrast`). Both halves share most of their features
(the statement); what differs is the framing, so a reporter looks at each half
after removing that half's own mean (and, with ``normalize="var"``, scaling
each dimension by that half's standard deviation, an option of Burns et al.'s
code and the default here), as in Burns et al. (2022). The statistics are those
of the split the reporter is fit on (B), applied unchanged to T.

Unsupervised reporters find a direction up to its sign: which end is "true"
is not identifiable from the features alone. The sign rule decides it:

- ``weak`` (default): keep the direction if its predictions on B agree with the
  supervisor's labels of B on at least half the items, else flip it. This reads
  the weak labels only through one bit, the sign: the sandwich-honest choice.
- ``oracle``: the same with B's gold labels; the elicitor then declares
  ``needs_gold`` and the run flags its cells ``oracle`` (a diagnostic).

A reporter's features ``X`` for :meth:`fit`/:meth:`predict_proba` are the two
halves side by side, ``np.hstack([pos, neg])`` (n, 2d), so the ``Elicitor``
contract (one row per item) holds; ``fit_cell`` builds them from
``CellInputs.contrast_features``.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Self

import numpy as np
from pydantic import Field

from sandwich.config import Strict
from sandwich.elicit.base import CellInputs, Elicitor, Supervision

SignRule = Literal["weak", "oracle"]
Normalize = Literal["mean", "var"]


@dataclass(frozen=True)
class PairNormaliser:
    """Each half's mean (and per-dimension scale) on the fit split, applied to any split."""

    mean_pos: np.ndarray
    mean_neg: np.ndarray
    scale_pos: np.ndarray
    scale_neg: np.ndarray

    @classmethod
    def fit(cls, pos: np.ndarray, neg: np.ndarray, normalize: Normalize = "var") -> PairNormaliser:
        """Statistics of ``pos`` and ``neg`` (each (n, d)); ``"mean"`` only centres."""

        def scale(x: np.ndarray) -> np.ndarray:
            if normalize == "mean":
                return np.ones(x.shape[1])
            sd = x.std(axis=0)
            return np.where(sd > 0, sd, 1.0)

        return cls(pos.mean(axis=0), neg.mean(axis=0), scale(pos), scale(neg))

    def transform(self, pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (pos - self.mean_pos) / self.scale_pos, (neg - self.mean_neg) / self.scale_neg


def split_pairs(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pos, neg) from the side-by-side features ``np.hstack([pos, neg])``."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] % 2 or X.shape[1] == 0 or len(X) == 0:
        raise ValueError(
            f"contrast features must be (n, 2d): each item's pos and neg halves side by side "
            f"(np.hstack([pos, neg])), got shape {X.shape}"
        )
    d = X.shape[1] // 2
    return X[:, :d], X[:, d:]


def agreement(p: np.ndarray, reference: np.ndarray) -> float:
    """Share of items where P(true) > 0.5 matches reference > 0.5 (soft labels are rounded)."""
    return float(np.mean((np.asarray(p) > 0.5) == (np.asarray(reference) > 0.5)))


def sign_from(p: np.ndarray, reference: np.ndarray) -> int:
    """+1 if predictions ``p`` agree with ``reference`` on at least half the items, else -1."""
    return 1 if agreement(p, reference) >= 0.5 else -1


class ContrastReporter(Elicitor):
    """A reporter fit on B's contrast pairs without labels; its sign by the ``sign`` rule.

    Subclasses implement :meth:`_fit_raw` (learn from normalised pairs) and
    :meth:`_raw_proba` (P(true) before the sign is applied).
    """

    needs_contrast: ClassVar[bool] = True

    class Params(Strict):
        sign: SignRule = Field(
            "weak",
            description="how the sign is fixed: 'weak' (agreement with the supervisor's labels of "
            "B) or 'oracle' (B's gold labels: flagged oracle, a diagnostic)",
        )
        normalize: Normalize = Field(
            "var",
            description="per-half normalisation on B: 'mean' centres each half, 'var' also "
            "divides each dimension by that half's standard deviation",
        )

    hparams: Params

    @property
    def needs_gold(self) -> bool:
        return self.hparams.sign == "oracle"

    @property
    def supervision(self) -> Supervision:
        """``"sign"``: one bit from the weak labels; ``"none"`` with the oracle sign (no
        supervisor label is read; the cell is flagged oracle instead)."""
        return "sign" if self.hparams.sign == "weak" else "none"

    @abstractmethod
    def _fit_raw(self, pos: np.ndarray, neg: np.ndarray, random_state: int) -> None:
        """Learn from B's normalised halves, without labels."""

    @abstractmethod
    def _raw_proba(self, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        """P(true) of normalised pairs before the sign rule."""

    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> Self:
        """Fit on contrast features ``X`` (``np.hstack([pos, neg])``) without labels; ``y``
        (the labels the sign rule reads: weak, or gold with ``sign="oracle"``) fixes the sign."""
        pos, neg = split_pairs(X)
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (len(pos),):
            raise ValueError(f"y must have one label per pair, shape ({len(pos)},), got {y.shape}")
        self.normaliser_ = PairNormaliser.fit(pos, neg, self.hparams.normalize)
        pos_n, neg_n = self.normaliser_.transform(pos, neg)
        self._fit_raw(pos_n, neg_n, random_state)
        p = self._raw_proba(pos_n, neg_n)
        self.raw_agreement_ = agreement(p, y)
        self.sign_ = sign_from(p, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self._raw_proba(*self.normaliser_.transform(*split_pairs(X)))
        return p if self.sign_ > 0 else 1.0 - p

    def fit_cell(self, data: CellInputs, y: np.ndarray, workdir: Path | None = None) -> Self:
        """Fit on B's contrast pairs; the sign from ``y`` (weak) or B's gold (``oracle``)."""
        reference = data.gold("train_strong") if self.needs_gold else y
        X = np.hstack(data.contrast_features("train_strong"))
        return self.fit(X, reference, random_state=data.seed)

    def predict_cell(self, data: CellInputs) -> np.ndarray:
        return self.predict_proba(np.hstack(data.contrast_features("test")))
