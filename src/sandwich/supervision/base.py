"""Supervisor: anything that produces (soft) labels for items."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol, Self

import numpy as np

from sandwich.registry import Configurable
from sandwich.tasks.item import Item


class FeatureSource(Protocol):
    """Cached features of a named model on items: array (len(items), dim), float32."""

    def __call__(self, model: str, items: Sequence[Item]) -> np.ndarray: ...


class Supervisor(Configurable, ABC):
    """Produces P(statement is true) for items.

    ``fit`` sees the gold labels of A (train_weak) only; ``predict_proba`` is
    then called on B (to make the student's training labels) and on T (to
    measure the supervisor's own accuracy, the "weak" term of PGR).
    ``random_state`` fixes any randomness. Parameters: the class's ``Params``
    (validated into ``hparams``, see :class:`sandwich.registry.Configurable`).
    """

    @abstractmethod
    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self: ...

    @abstractmethod
    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray: ...
