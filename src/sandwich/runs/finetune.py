"""Cells whose elicitor trains the model itself (fine-tuning): student and ceiling.

Cache keys hold what determines the predictions: the split (task fingerprint,
seed, split fractions), the fingerprints of every model trained (a chain's
links and the strong model), the labels, the elicitor and its params.
Checkpoints of a training in progress live in ``$SANDWICH_HOME/checkpoints/<key>``
(the same content key), so a killed cell resumes where it stopped; they are
removed once the cell's predictions are stored.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sandwich.elicit import ELICITORS, TextElicitor
from sandwich.store import ArtifactKey

if TYPE_CHECKING:
    from sandwich.runs.cell import RunContext
    from sandwich.runs.plan import Cell

FINETUNE_VERSION = 1


def _build(name: str, params: dict[str, Any]) -> TextElicitor:
    elicitor = ELICITORS.build(name, **params)
    assert isinstance(elicitor, TextElicitor)
    return elicitor


def _fit_and_predict(
    ctx: RunContext,
    key: ArtifactKey,
    elicitor: TextElicitor,
    models: list[str],
    texts_b: list[str],
    y_b: np.ndarray,
    texts_t: list[str],
    seed: int,
    gold_b: np.ndarray | None,
) -> dict[str, np.ndarray]:
    workdir = ctx.store.root / "checkpoints" / key.hex

    def compute() -> dict[str, np.ndarray]:
        elicitor.fit_text(
            [ctx.features.model(m) for m in models],
            texts_b,
            y_b,
            random_state=seed,
            workdir=workdir,
            gold=gold_b,
            report_texts=texts_t if len(models) > 1 else None,
            progress=ctx.progress,
        )
        out = {"test": elicitor.predict_proba_text(texts_t)}
        links = getattr(elicitor, "link_predictions_", [])
        if links:
            out["links"] = np.stack(links)
        return out

    if _num_processes() > 1:
        return _distributed(ctx, key, compute)
    arrays = ctx.store.arrays(key, compute)
    shutil.rmtree(workdir, ignore_errors=True)  # the predictions are stored
    return arrays


def _num_processes() -> int:
    """Processes started by ``accelerate launch`` / torchrun (1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _distributed(
    ctx: RunContext, key: ArtifactKey, compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Under ``accelerate launch``: every process trains (a collective), the main one stores.

    The store's per-key file lock cannot be held around a collective (the other
    processes would wait on the lock, not in the collective), so the lookup and
    the training happen outside it.
    """
    from accelerate import PartialState

    state = PartialState()
    found = ctx.store.lookup(key)
    if found is None:
        arrays = compute()
        if state.is_main_process:
            ctx.store.arrays(key, lambda: arrays)
            shutil.rmtree(ctx.store.root / "checkpoints" / key.hex, ignore_errors=True)
        state.wait_for_everyone()
    return ctx.store.arrays(key, compute)


def text_student(
    ctx: RunContext,
    cell: Cell,
    split_inputs: dict[str, Any],
    weak_b: np.ndarray,
    labels_key: str,
) -> dict[str, np.ndarray]:
    """The fine-tuned strong model (after any chain) trained on B's weak labels, on T."""
    task = ctx.task(cell.task)
    splits = ctx.splits(cell.task, cell.seed)
    elicitor = _build(cell.elicitor.name, dict(cell.elicitor.params))
    models = [*elicitor.chain_models(), cell.strong]
    inputs = {
        **split_inputs,
        "models": [ctx.features.model(m).fingerprint for m in models],
        "labels": labels_key,
        "elicitor": cell.elicitor.name,
        "params": dict(cell.elicitor.params),
    }
    gold_b = task.labels(splits.train_strong).astype(np.float64) if elicitor.needs_gold else None
    return _fit_and_predict(
        ctx,
        ArtifactKey("predictions", FINETUNE_VERSION, inputs),
        elicitor,
        models,
        task.texts(splits.train_strong),
        weak_b,
        task.texts(splits.test),
        cell.seed,
        gold_b,
    )


def ceiling_label(params: dict[str, Any]) -> str:
    return f"finetune ({params.get('mode', 'lora')}, xent) on B gold labels"


def text_ceiling(
    ctx: RunContext, cell: Cell, split_inputs: dict[str, Any]
) -> tuple[np.ndarray, str]:
    """The strong model fine-tuned the same way on B's gold labels with ``xent``, on T.

    Keyed without the weak supervisor, the loss, the chain or the selection rule,
    so every cell that trains the strong model the same way shares one ceiling.
    """
    task = ctx.task(cell.task)
    splits = ctx.splits(cell.task, cell.seed)
    params = _build(cell.elicitor.name, dict(cell.elicitor.params)).ceiling_params()
    inputs = {
        **split_inputs,
        "models": [ctx.features.model(cell.strong).fingerprint],
        "elicitor": cell.elicitor.name,
        "params": params,
    }
    gold = task.labels(splits.train_strong).astype(np.float64)
    arrays = _fit_and_predict(
        ctx,
        ArtifactKey("ceiling", FINETUNE_VERSION, inputs),
        _build(cell.elicitor.name, params),
        [cell.strong],
        task.texts(splits.train_strong),
        gold,
        task.texts(splits.test),
        cell.seed,
        None,
    )
    return arrays["test"], ceiling_label(params)
