"""``weak-model``: a weak model trained on A's gold: a probe on its features, or fine-tuned.

``method: probe`` (default): a logistic probe on the weak model's features.
``method: finetune``: the weak model itself fine-tuned on A's gold with the
``finetune`` elicitor's code (zero-initialised head, loss, mode, selection),
the weak supervisor of Burns et al. (2023), so a run can compare a fine-tuned
student with a fine-tuned supervisor like for like.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Self

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from sandwich.config import Strict
from sandwich.elicit.finetune import FineTuneElicitor
from sandwich.elicit.probe import LogisticProbe
from sandwich.models import load_model
from sandwich.supervision.base import FeatureSource, ModelSource, Supervisor
from sandwich.tasks.item import Item

Method = Literal["probe", "finetune"]


class WeakModelSupervisor(Supervisor):
    """A weak model trained on A's gold labels, giving soft labels (P(true)) for B and T.

    ``method="probe"``: a :class:`~sandwich.elicit.probe.LogisticProbe` on
    ``features(model, items)``; ``elicitor_params`` are its Params.
    ``method="finetune"``: the model fine-tuned on the items' texts by
    :class:`~sandwich.elicit.finetune.FineTuneElicitor`; ``elicitor_params``
    are its Params (docs/finetune.md), without ``chain``. The model comes from
    the feature source's ``model(name)`` when it has one (the run's loaded
    models and store), else from :func:`sandwich.models.load_model`.
    """

    class Params(Strict):
        model_config = ConfigDict(json_schema_extra={"examples": [{"model": "fake-weak"}]})

        model: str = Field(min_length=1, description="the weak model's name")
        method: Method = Field("probe", description="probe on its features, or finetune it")
        elicitor_params: dict[str, Any] = Field(
            default_factory=dict,
            description="Params of the probe or finetune elicitor (defaults filled in)",
        )

        @model_validator(mode="after")
        def _check(self) -> Self:
            from sandwich.elicit.registry import ELICITORS

            if self.method == "finetune" and self.elicitor_params.get("chain"):
                raise ValueError("elicitor_params.chain: not supported for a weak supervisor")
            where = f"elicitor_params for the {self.method}"
            resolved = ELICITORS.resolve_within(self.method, self.elicitor_params, where)
            object.__setattr__(self, "elicitor_params", resolved)
            return self

    hparams: Params

    def feature_models(self) -> list[str]:
        """The weak model's features, for the probe (a fine-tuned one reads texts)."""
        return [self.hparams.model] if self.hparams.method == "probe" else []

    def trained_models(self) -> list[str]:
        return [self.hparams.model] if self.hparams.method == "finetune" else []

    def resolved_params(self) -> dict[str, Any]:
        """Fine-tuned: ``elicitor_params`` with the fine-tuning's ``auto``s chosen, once fit."""
        ft = getattr(self, "finetuned_", None)
        return {**self.get_params(), **({"elicitor_params": ft.resolved_params()} if ft else {})}

    def _finetuner(self) -> FineTuneElicitor:
        return FineTuneElicitor(**self.hparams.elicitor_params)

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        y = np.array([it.label for it in items], dtype=np.float64)
        if self.hparams.method == "probe":
            X = features(self.hparams.model, items)
            self.probe_ = LogisticProbe(**self.hparams.elicitor_params).fit(X, y, random_state)
            return self
        model = features.model(self.hparams.model) if isinstance(features, ModelSource) else None
        self.finetuned_ = self._finetuner().fit_text(
            [model or load_model(self.hparams.model)],
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
        return np.asarray(
            self.probe_.predict_proba(features(self.hparams.model, items)), dtype=np.float64
        )
