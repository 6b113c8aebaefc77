"""Elicitor: turns the strong model's features plus supervisor labels into predictions.

Estimator contract (as in scikit-learn): ``__init__`` only stores
hyperparameters; ``fit(X, y, random_state) -> self`` learns from features ``X``
(n, d) and soft labels ``y`` in [0, 1]; learned state ends in ``_``;
``predict_proba(X)`` returns P(true), shape (n,).

Model selection / early stopping uses a held-out part of the ``y`` it is
given (the supervisor's labels of B), never gold labels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Self

import numpy as np


class Elicitor(ABC):
    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> Self: ...

    @abstractmethod
    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def check_params(self) -> None:
        """Raise ValueError naming a hyperparameter outside its allowed range.

        Called by ``fit`` and by config validation (so a bad value fails when
        the config loads, not after features have been computed).
        """

    def get_params(self) -> dict[str, Any]:
        return {
            k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")
        }
