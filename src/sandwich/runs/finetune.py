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
    from sandwich.runs.context import RunContext
    from sandwich.runs.plan import W2SCell as Cell

FINETUNE_VERSION = 2  # 2: logconf's threshold over the whole batch; ceiling selects as its student


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
    """What the fine-tuned ceiling is, with its data and selection settings.

    E.g. ``finetune (lora, xent, select=last) on B gold labels`` or
    ``finetune (lora, xent, select=weak, val_fraction=0.2) on B gold labels``
    (``weak`` selection of a ceiling is against its own labels: gold).
    """
    select = params.get("select", "weak")
    held = "" if select == "last" else f", val_fraction={params.get('val_fraction', 0.2):g}"
    return f"finetune ({params.get('mode', 'lora')}, xent, select={select}{held}) on B gold labels"


def ceiling_params(cell: Cell) -> dict[str, Any]:
    """The params the cell's fine-tuned ceiling is trained with (``specs["ceiling_params"]``)."""
    return _build(cell.elicitor.name, dict(cell.elicitor.params)).ceiling_params()


def text_ceiling(
    ctx: RunContext, cell: Cell, split_inputs: dict[str, Any]
) -> tuple[np.ndarray, str]:
    """The strong model fine-tuned the same way on B's gold labels with ``xent``, on T.

    The same data and selection settings as the student (``select``,
    ``val_fraction``), gold labels where the student has weak ones. Keyed
    without the weak supervisor, the loss or the chain, so every cell that
    trains the strong model the same way shares one ceiling.
    """
    task = ctx.task(cell.task)
    splits = ctx.splits(cell.task, cell.seed)
    params = ceiling_params(cell)
    inputs = {
        **split_inputs,
        "models": [ctx.features.model(cell.strong).fingerprint],
        "elicitor": cell.elicitor.name,
        "params": params,
    }
    gold = task.labels(splits.train_strong).astype(np.float64)
    elicitor = _build(cell.elicitor.name, params)
    arrays = _fit_and_predict(
        ctx,
        ArtifactKey("ceiling", FINETUNE_VERSION, inputs),
        elicitor,
        [cell.strong],
        task.texts(splits.train_strong),
        gold,
        task.texts(splits.test),
        cell.seed,
        gold if elicitor.needs_gold else None,  # select: oracle scores held-out gold accuracy
    )
    return arrays["test"], ceiling_label(params)
