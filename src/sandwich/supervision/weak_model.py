"""``weak-model``: a weak model trained on A's gold: a probe on its features, or fine-tuned.

``method: probe`` (default): a logistic probe on the weak model's features.
``method: finetune``: the weak model itself fine-tuned on A's gold with the
``finetune`` elicitor's code (zero-initialised head, loss, mode, selection),
the weak supervisor of Burns et al. (2023), so a run can compare a fine-tuned
student with a fine-tuned supervisor like for like.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Self, get_args

import numpy as np

from sandwich.elicit.finetune import FineTuneElicitor
from sandwich.elicit.probe import LogisticProbe
from sandwich.errors import ConfigError
from sandwich.models import load_model
from sandwich.supervision.base import FeatureSource, ModelSource, Supervisor
from sandwich.supervision.registry import SUPERVISORS
from sandwich.tasks.item import Item

Method = Literal["probe", "finetune"]
METHODS: tuple[str, ...] = get_args(Method)


@SUPERVISORS.register(
    "weak-model", summary="a weak model fit on A's gold: probe on its features, or fine-tuned"
)
class WeakModelSupervisor(Supervisor):
    """A weak model trained on A's gold labels, giving soft labels (P(true)) for B and T.

    ``method="probe"``: a :class:`~sandwich.elicit.probe.LogisticProbe` on
    ``features(model, items)``; ``elicitor_params`` go to ``LogisticProbe``.
    ``method="finetune"``: the model fine-tuned on the items' texts by
    :class:`~sandwich.elicit.finetune.FineTuneElicitor`; ``elicitor_params``
    are its params (docs/finetune.md), without ``chain``. The model comes from
    the feature source's ``model(name)`` when it has one (the run's loaded
    models and store), else from :func:`sandwich.models.load_model`.
    """

    def __init__(
        self,
        model: str,
        elicitor_params: dict[str, Any] | None = None,
        method: Method = "probe",
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError(f"weak-model: model must be a model name, got {model!r}")
        if method not in METHODS:
            raise ConfigError(f"weak-model: method must be one of {METHODS}, got {method!r}")
        self.model = model
        self.method = method
        self.elicitor_params = dict(elicitor_params or {})
        self._check_elicitor_params()

    def _check_elicitor_params(self) -> None:
        try:
            if self.method == "probe":
                LogisticProbe(**self.elicitor_params)
                return
            if self.elicitor_params.get("chain"):
                raise ValueError("chain is not supported for a weak supervisor")
            self._finetuner().check_params()
        except (TypeError, ValueError) as e:
            raise ConfigError(
                f"weak-model: bad elicitor_params for the {self.method}: {e}"
            ) from None

    def feature_models(self) -> list[str]:
        """The weak model's features, for the probe (a fine-tuned one reads texts)."""
        return [self.model] if self.method == "probe" else []

    def trained_models(self) -> list[str]:
        return [self.model] if self.method == "finetune" else []

    def _finetuner(self) -> FineTuneElicitor:
        return FineTuneElicitor(**self.elicitor_params)

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        y = np.array([it.label for it in items], dtype=np.float64)
        if self.method == "probe":
            X = features(self.model, items)
            self.probe_ = LogisticProbe(**self.elicitor_params).fit(X, y, random_state)
            return self
        model = features.model(self.model) if isinstance(features, ModelSource) else None
        self.finetuned_ = self._finetuner().fit_text(
            [model or load_model(self.model)],
            [it.text for it in items],
            y,
            random_state=random_state,
            gold=y,  # A's labels are gold: select: oracle is the same data here
        )
        return self

    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        if hasattr(self, "finetuned_"):
            p = self.finetuned_.predict_proba_text([it.text for it in items])
            return np.asarray(p, dtype=np.float64)
        if not hasattr(self, "probe_"):
            raise RuntimeError("WeakModelSupervisor.predict_proba called before fit")
        return np.asarray(self.probe_.predict_proba(features(self.model, items)), dtype=np.float64)
