"""``gold``: the answer key itself (the ceiling's labels; an oracle diagnostic)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np

from sandwich.supervision.base import FeatureSource, Supervisor
from sandwich.tasks.item import Item


class GoldSupervisor(Supervisor):
    """Returns P(true) = 1.0 for true items and 0.0 for false ones."""

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        return self

    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        return np.array([1.0 if it.label else 0.0 for it in items], dtype=np.float64)
