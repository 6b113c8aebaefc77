"""``weak-model``: a logistic probe on a weak model's features, trained on A's gold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from sandwich.elicit.probe import LogisticProbe
from sandwich.errors import ConfigError
from sandwich.supervision.base import FeatureSource, Supervisor
from sandwich.supervision.registry import SUPERVISORS
from sandwich.tasks.item import Item


@SUPERVISORS.register("weak-model", summary="probe on a weak model's features, fit on A's gold")
class WeakModelSupervisor(Supervisor):
    """A :class:`~sandwich.elicit.probe.LogisticProbe` on ``features(model, items)``.

    ``fit`` trains it on A with gold labels; ``predict_proba`` gives its soft
    labels (P(true)) for B and T. ``elicitor_params`` go to ``LogisticProbe``.
    """

    def __init__(self, model: str, elicitor_params: dict[str, Any] | None = None) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError(f"weak-model: model must be a model name, got {model!r}")
        self.model = model
        self.elicitor_params = dict(elicitor_params or {})
        try:
            LogisticProbe(**self.elicitor_params)
        except TypeError as e:
            raise ConfigError(f"weak-model: bad elicitor_params for the probe: {e}") from None

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        X = features(self.model, items)
        y = np.array([it.label for it in items], dtype=np.float64)
        self.probe_ = LogisticProbe(**self.elicitor_params).fit(X, y, random_state)
        return self

    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        if not hasattr(self, "probe_"):
            raise RuntimeError("WeakModelSupervisor.predict_proba called before fit")
        return np.asarray(self.probe_.predict_proba(features(self.model, items)), dtype=np.float64)
