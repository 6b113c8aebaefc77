"""Features of models on tasks, computed once and kept in the artifact store.

Two kinds of artifact, keyed by :func:`features_key`: ``features`` (each item's
text) and ``contrast-features`` (each item framed as true and as false,
:mod:`sandwich.tasks.contrast`; both halves extracted by ``Model.pair_features``,
which on a decoder runs each pair's shared statement once, and stored together as
``pos`` and ``neg``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sandwich.models import FeatureSpec, Model, load_model
from sandwich.models.hf import HFModel
from sandwich.runs.config import FeatureConfig
from sandwich.store import ArtifactKey, ArtifactStore
from sandwich.tasks import Item, Task
from sandwich.tasks.contrast import CONTRAST_TEMPLATE, contrast_texts

FEATURES_VERSION = 1


def feature_spec(model: Model, cfg: FeatureConfig) -> FeatureSpec:
    """Resolve the config's depth fraction, pooling and dtype (``auto``: measured per
    machine, see sandwich.models.precision) for one model: keys use the resolved spec."""
    if isinstance(cfg.layer, float):
        layer = max(1, round(cfg.layer * model.num_layers))
    else:
        layer = model.resolve_layers([cfg.layer])[0]
    pooling = (
        cfg.pooling if cfg.pooling != "auto" else ("mean" if model.kind == "encoder" else "last")
    )
    spec = FeatureSpec(
        layers=(layer,),
        pooling=pooling,
        dtype=cfg.dtype,
        batch_size=cfg.batch_size,
        max_length=cfg.max_length,
    )
    return model.resolve_spec(spec)


def features_key(
    model: Model, task: Task, spec: FeatureSpec, template: str | None = None
) -> ArtifactKey:
    """The store key of ``model``'s features of ``task`` under ``spec``: of the items' texts,
    or (``template``, see :mod:`sandwich.tasks.contrast`) of their contrast pairs."""
    inputs = {"model": model.fingerprint, "task": task.fingerprint, "spec": spec.to_dict()}
    if template is None:
        return ArtifactKey("features", FEATURES_VERSION, inputs)
    return ArtifactKey("contrast-features", FEATURES_VERSION, {**inputs, "template": template})


class TaskFeatures:
    """Features of named models on one task's items, served by item."""

    def __init__(self, store: ArtifactStore, cfg: FeatureConfig, progress: bool = True) -> None:
        self.store = store
        self.cfg = cfg
        self.progress = progress
        self._models: dict[str, Model] = {}
        self._tables: dict[tuple[str, str], tuple[dict[str, int], np.ndarray]] = {}
        self._pairs: dict[tuple[str, str], tuple[dict[str, int], np.ndarray, np.ndarray]] = {}

    def model(self, name: str) -> Model:
        if name not in self._models:
            model = load_model(name, store=self.store)
            if isinstance(model, HFModel):
                model.progress = self.progress
            self._models[name] = model
        return self._models[name]

    def key(self, model_name: str, task: Task) -> ArtifactKey:
        model = self.model(model_name)
        return features_key(model, task, feature_spec(model, self.cfg))

    def contrast_key(self, model_name: str, task: Task) -> ArtifactKey:
        """The key of the contrast-pair features (same model, spec and items, plus the template)."""
        model = self.model(model_name)
        return features_key(model, task, feature_spec(model, self.cfg), CONTRAST_TEMPLATE)

    def table(self, model_name: str, task: Task) -> tuple[dict[str, int], np.ndarray]:
        """(item id -> row, features) for every item of ``task``, computed at most once."""
        cache_id = (model_name, task.fingerprint)
        if cache_id not in self._tables:
            model = self.model(model_name)
            spec = feature_spec(model, self.cfg)

            def compute() -> dict[str, np.ndarray]:
                x = model.features(task.texts(), spec)
                return {"x": x.reshape(len(task.items), -1).astype(np.float32)}

            x = self.store.arrays(self.key(model_name, task), compute)["x"]
            rows = {it.id: i for i, it in enumerate(task.items)}
            self._tables[cache_id] = (rows, x)
        return self._tables[cache_id]

    def contrast_table(
        self, model_name: str, task: Task
    ) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        """(item id -> row, pos, neg) for every item of ``task``, computed at most once by
        ``Model.pair_features`` (a decoder runs each pair's shared prefix once)."""
        cache_id = (model_name, task.fingerprint)
        if cache_id not in self._pairs:
            model = self.model(model_name)
            spec = feature_spec(model, self.cfg)
            n = len(task.items)

            def compute() -> dict[str, np.ndarray]:
                pos, neg = model.pair_features(*contrast_texts(task.items), spec)
                return {"pos": pos.reshape(n, -1).astype(np.float32),
                        "neg": neg.reshape(n, -1).astype(np.float32)}  # fmt: skip

            arrays = self.store.arrays(self.contrast_key(model_name, task), compute)
            rows = {it.id: i for i, it in enumerate(task.items)}
            self._pairs[cache_id] = (rows, arrays["pos"], arrays["neg"])
        return self._pairs[cache_id]

    def release(self, model_name: str) -> None:
        """Drop a loaded model (its features stay cached)."""
        self._models.pop(model_name, None)


@dataclass
class TaskSource:
    """Features of one task's items by model name; ``model(name)``: the loaded model
    (for a supervisor that trains a model itself, its ``trained_models()``)."""

    features: TaskFeatures
    task: Task

    def __call__(self, model: str, items: Sequence[Item]) -> np.ndarray:
        rows, x = self.features.table(model, self.task)
        return x[[rows[it.id] for it in items]]

    def contrast(self, model: str, items: Sequence[Item]) -> tuple[np.ndarray, np.ndarray]:
        """(pos, neg) contrast-pair features of ``items`` (:meth:`TaskFeatures.contrast_table`)."""
        rows, pos, neg = self.features.contrast_table(model, self.task)
        idx = [rows[it.id] for it in items]
        return pos[idx], neg[idx]

    def model(self, name: str) -> Model:
        return self.features.model(name)
