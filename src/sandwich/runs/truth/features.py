"""Features of one model at several layers, one forward pass for all of them, cached per layer.

Each layer's features are stored under the same key the w2s kind uses for a
one-layer spec (:func:`sandwich.runs.features.features_key`), so a w2s run at
that layer and a truth run share them. :func:`extract_layers` finds the layers
not yet stored and runs the model once over the texts for all of them
(``FeatureSpec.layers`` takes several; the forward pass stops at the deepest), and
once over the contrast pairs if asked, through ``Model.pair_features`` (a decoder
runs each pair's shared start once: the same features as one pass over both halves
within float rounding, at about 1.2x the plain features' cost instead of 2x);
:func:`layer_table` reads one layer back (extracting that layer alone if it is
missing, e.g. on a Ray worker that did not prepare).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from sandwich.models import FeatureSpec, Model
from sandwich.runs.config import FeatureConfig
from sandwich.runs.features import feature_spec, features_key
from sandwich.store import ArtifactKey, ArtifactStore
from sandwich.tasks import Task
from sandwich.tasks.contrast import CONTRAST_TEMPLATE, contrast_texts

Arrays = dict[str, np.ndarray]


def layer_spec(model: Model, cfg: FeatureConfig, layer: int) -> FeatureSpec:
    """The config's pooling, dtype and lengths, at block ``layer``."""
    return replace(feature_spec(model, cfg), layers=(layer,))


def layer_key(
    model: Model, task: Task, cfg: FeatureConfig, layer: int, contrast: bool
) -> ArtifactKey:
    """The store key of ``model``'s features of ``task`` at ``layer`` (or of its contrast pairs)."""
    template = CONTRAST_TEMPLATE if contrast else None
    return features_key(model, task, layer_spec(model, cfg, layer), template)


def _extract(model: Model, task: Task, spec: FeatureSpec, contrast: bool) -> np.ndarray:
    """(texts, layers, d): the items' features, or ``pos`` then ``neg`` of their pairs."""
    if not contrast:
        return model.features(task.texts(), spec)
    pos, neg = model.pair_features(*contrast_texts(task.items), spec)
    return np.concatenate([pos, neg])


def _arrays(x: np.ndarray, n: int, contrast: bool) -> Arrays:
    """One layer's (texts, d) block as stored: ``x``, or the ``pos`` and ``neg`` halves."""
    x = x.reshape(len(x), -1).astype(np.float32)
    return {"pos": x[:n], "neg": x[n:]} if contrast else {"x": x}


def _const(arrays: Arrays) -> Callable[[], Arrays]:
    return lambda: arrays


def extract_layers(
    store: ArtifactStore,
    model: Model,
    task: Task,
    cfg: FeatureConfig,
    layers: list[int],
    kinds: tuple[bool, ...],
) -> int:
    """Store ``model``'s features of ``task`` at every layer of ``layers`` not stored yet, for
    each of ``kinds`` (False: the items' texts, True: their contrast pairs), one forward pass
    per kind for all layers. Returns the number of texts the model read (0 when everything
    was cached)."""
    todo = {c: [k for k in layers if store.lookup(layer_key(model, task, cfg, k, c)) is None]
            for c in kinds}  # fmt: skip
    wanted = sorted({k for ks in todo.values() for k in ks})
    if not wanted:
        return 0
    spec = replace(feature_spec(model, cfg), layers=tuple(wanted))
    n, read = len(task.items), 0
    for c in (c for c in kinds if todo[c]):
        x = _extract(model, task, spec, c)  # one pass for all layers
        read += len(x)
        for j, k in enumerate(wanted):
            if k in todo[c]:
                store.arrays(layer_key(model, task, cfg, k, c), _const(_arrays(x[:, j], n, c)))
    return read


def layer_table(
    store: ArtifactStore, model: Model, task: Task, cfg: FeatureConfig, layer: int, contrast: bool
) -> Arrays:
    """One layer's stored features of ``task`` (``x``, or ``pos`` and ``neg``), in item order."""

    def compute() -> Arrays:
        x = _extract(model, task, layer_spec(model, cfg, layer), contrast)
        return _arrays(x[:, 0], len(task.items), contrast)

    return store.arrays(layer_key(model, task, cfg, layer, contrast), compute)
