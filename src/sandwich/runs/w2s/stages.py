"""The stages of a w2s cell: supervisor labels; ceiling and student (an elicitor trained).

Each stage is cached in the artifact store under a key of what it depends on:
the split (task fingerprint, seed, fractions), the inputs read (features keys
of the models read, fingerprints of the models trained), the labels, and the
component's *spec* (name, resolved parameters with defaults, code version;
``sandwich.registry``). So adding an elicitor recomputes only that elicitor,
changing a default recomputes what it made, writing one out recomputes nothing.
An ``auto`` is keyed as written (what it chooses depends on the model); the
value chosen (``resolved_params()`` after fitting) is stored with the stage's
output (``"params"``), so a cached rerun reports it without refitting.
Components are asked only what they declare (``Supervisor.feature_models``,
``ElicitorBase.ceiling``, ...). Checkpoints of a training live in
``$SANDWICH_HOME/checkpoints/<stage key>`` until the stage is stored."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np

from sandwich.elicit import ElicitorBase
from sandwich.registry import spec_of
from sandwich.runs.context import RunContext
from sandwich.runs.w2s.data import CellData
from sandwich.store import ArtifactKey
from sandwich.supervision import Supervisor

# 3: keyed by the components' resolved specs (was 1 for labels and probes, 2 for fine-tuning)
STAGE_VERSION = 3

Arrays = dict[str, np.ndarray]
PARAMS = "params"  # the fitted component's resolved_params(), as a JSON string


def _with_params(component: Any, arrays: Arrays) -> Arrays:
    return {**arrays, PARAMS: np.array(json.dumps(component.resolved_params()))}


def used_spec(component: object, stored: Arrays) -> dict[str, Any]:
    """The component's spec with the params it used (``auto``s replaced) as stored with its
    stage's output; an artifact stored before they were gives the configured ones."""
    spec = spec_key(component)
    return {**spec, "params": json.loads(stored[PARAMS].item())} if PARAMS in stored else spec


def spec_key(component: object) -> dict[str, Any]:
    """The component's spec (name, resolved params, code version): how cache keys name it."""
    if (spec := spec_of(component)) is None:
        raise TypeError(f"{type(component).__name__} was not built by a registry: it has no spec")
    return spec.to_dict()


def labels_key(data: CellData, sup: Supervisor) -> ArtifactKey:
    """The key of a supervisor's labels: the split, the features and models it reads, its spec."""
    inputs = {
        **data.split_key(),
        "supervisor": spec_key(sup),
        "features": [data.features_key(m) for m in sup.feature_models()],
        "models": [data.fingerprint(m) for m in sup.trained_models()],
        "data": sup.data_fingerprint(),
    }
    return ArtifactKey("labels", STAGE_VERSION, inputs)


def supervisor_labels(ctx: RunContext, data: CellData, sup: Supervisor) -> Arrays:
    """The supervisor's P(true) on B (``"train_strong"``) and on T (``"test"``), fit on A's gold."""

    def compute() -> Arrays:
        source = data.source
        sup.fit(data.items("train_weak"), source, random_state=data.seed)
        out = {s: sup.predict_proba(data.items(s), source) for s in ("train_strong", "test")}
        return _with_params(sup, out)

    return ctx.store.arrays(labels_key(data, sup), compute)


def _input_keys(data: CellData, elicitor: ElicitorBase) -> list[str]:
    """What the elicitor reads of each model it trains on: features (and contrast-pair
    features if it declares ``needs_contrast``), or the weights."""
    models = [*elicitor.chain_models(), data.strong]
    if elicitor.inputs == "features":
        keys = [data.features_key(m) for m in models]
        return keys + [data.contrast_key(m) for m in models] if elicitor.needs_contrast else keys
    return [data.fingerprint(m) for m in models]


def trained_key(data: CellData, stage: str, elicitor: ElicitorBase, y_b: np.ndarray) -> ArtifactKey:
    """The key of ``elicitor`` trained on B with labels ``y_b`` (by content), as ``stage``."""
    labels = ArtifactKey("labels-ref", STAGE_VERSION, {"b": y_b}).hex
    inputs = {**data.split_key(), "inputs": _input_keys(data, elicitor), "labels": labels,
              "elicitor": spec_key(elicitor)}  # fmt: skip
    return ArtifactKey(stage, STAGE_VERSION, inputs)


def trained(
    ctx: RunContext,
    data: CellData,
    stage: str,
    elicitor: ElicitorBase,
    y_b: np.ndarray,
) -> Arrays:
    """``elicitor`` fit on B with labels ``y_b``, scored on T (``"test"``), cached as ``stage``.

    A bootstrapping chain also gives each link's P(true) on T (``"links"``, (n_links, n_test)).
    """
    key = trained_key(data, stage, elicitor, y_b)
    workdir = ctx.store.root / "checkpoints" / key.hex

    def compute() -> Arrays:
        elicitor.fit_cell(data, y_b, workdir=workdir)
        out = {"test": elicitor.predict_cell(data)}
        if elicitor.link_predictions_:
            out["links"] = np.stack(elicitor.link_predictions_)
        return _with_params(elicitor, out)

    # under ``accelerate launch`` / torchrun, training the weights is a collective
    if elicitor.inputs == "text" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return _distributed(ctx, key, compute)
    arrays = ctx.store.arrays(key, compute)
    shutil.rmtree(workdir, ignore_errors=True)  # the predictions are stored
    return arrays


def _distributed(ctx: RunContext, key: ArtifactKey, compute: Callable[[], Arrays]) -> Arrays:
    """Under ``accelerate launch``: every process trains (a collective), the main one stores.

    The store's per-key file lock cannot be held around a collective (the other
    processes would wait on the lock, not in the collective), so the lookup and
    the training happen outside it.
    """
    from accelerate import PartialState

    state = PartialState()
    if ctx.store.lookup(key) is None:
        arrays = compute()
        if state.is_main_process:
            ctx.store.arrays(key, lambda: arrays)
            shutil.rmtree(ctx.store.root / "checkpoints" / key.hex, ignore_errors=True)
        state.wait_for_everyone()
    return ctx.store.arrays(key, compute)
