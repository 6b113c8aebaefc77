"""Supervisor: anything that produces (soft) labels for items."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

import numpy as np

from sandwich.registry import Configurable
from sandwich.tasks.item import Item

if TYPE_CHECKING:
    from sandwich.models import Model


class FeatureSource(Protocol):
    """Cached features of a named model on items: array (len(items), dim), float32."""

    def __call__(self, model: str, items: Sequence[Item]) -> np.ndarray: ...


@runtime_checkable
class ModelSource(FeatureSource, Protocol):
    """A feature source that also serves the loaded models (a run's: loaded once, stored)."""

    def model(self, name: str) -> Model: ...


class Supervisor(Configurable, ABC):
    """Produces P(statement is true) for items.

    ``fit`` sees the gold labels of A (train_weak) only; ``predict_proba`` is
    then called on B (to make the student's training labels) and on T (to
    measure the supervisor's own accuracy, the "weak" term of PGR).
    ``random_state`` fixes any randomness. A run asks a supervisor what it
    needs through the methods below, never by its name; its labels' cache key
    holds all of it. Parameters: the class's
    ``Params`` (validated into ``hparams``, see :class:`sandwich.registry.Configurable`).
    """

    @abstractmethod
    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self: ...

    @abstractmethod
    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray: ...

    def feature_models(self) -> list[str]:
        """Models whose cached features ``fit`` / ``predict_proba`` read (none by default)."""
        return []

    def trained_models(self) -> list[str]:
        """Models whose weights it trains itself (none by default): its labels depend on them."""
        return []

    def data_fingerprint(self) -> str | None:
        """A hash of the labels it reads from outside (a human study), None if it reads none."""
        return None
