"""Running one cell: supervisor labels, ceiling, student, metrics.

Each stage is cached in the artifact store under a key made of the content it
depends on, so adding an elicitor to a sweep recomputes only that elicitor, and
a killed run, started again, picks up where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sandwich.elicit import ELICITORS, LogisticProbe, TextElicitor, elicitor_inputs
from sandwich.metrics import (
    PGRResult,
    accuracy,
    agreement,
    agreement_on_errors,
    auroc,
    ece,
    pgr_with_ci,
)
from sandwich.runs.context import RunContext
from sandwich.runs.finetune import ceiling_params as text_ceiling_params
from sandwich.runs.finetune import text_ceiling, text_student
from sandwich.runs.plan import W2SCell as Cell
from sandwich.runs.results import FLAG_ORACLE, FLAG_SMALL_GAP, FLAG_SMALL_TEST, CellResult
from sandwich.store import ArtifactKey
from sandwich.supervision import SUPERVISORS
from sandwich.tasks import Splits

CELL_VERSION = 1


@dataclass(frozen=True)
class CellOutcome:
    """A cell's result plus its test-set predictions (kept for cross-seed CIs)."""

    result: CellResult
    y_test: np.ndarray
    p_weak: np.ndarray
    p_student: np.ndarray
    p_ceiling: np.ndarray


def _split_inputs(ctx: RunContext, cell: Cell) -> dict[str, Any]:
    return {
        "task": ctx.task(cell.task).fingerprint,
        "seed": cell.seed,
        "split": asdict(ctx.config.split),
    }


def supervisor_labels(ctx: RunContext, cell: Cell) -> dict[str, np.ndarray]:
    """The weak supervisor's P(true) on B and on T (fit on A's gold)."""
    task = ctx.task(cell.task)
    splits = ctx.splits(cell.task, cell.seed)
    params = cell.weak.build_params
    inputs: dict[str, Any] = {
        **_split_inputs(ctx, cell),
        "supervisor": cell.weak.name,
        "params": params,
    }
    if cell.weak.model:
        inputs["features"] = ctx.features.key(cell.weak.model, task).hex
    sup = SUPERVISORS.build(cell.weak.name, **params)
    data_fingerprint = getattr(sup, "data_fingerprint", None)
    if callable(data_fingerprint):  # labels read from outside (e.g. a human study): key on them
        inputs["data"] = data_fingerprint()

    def compute() -> dict[str, np.ndarray]:
        source = ctx.features.source(task)
        sup.fit(splits.train_weak, source, random_state=cell.seed)
        return {
            "train_strong": sup.predict_proba(splits.train_strong, source),
            "test": sup.predict_proba(splits.test, source),
        }

    return ctx.store.arrays(ArtifactKey("labels", CELL_VERSION, inputs), compute)


def _strong_xy(ctx: RunContext, cell: Cell) -> tuple[np.ndarray, np.ndarray, Splits]:
    task = ctx.task(cell.task)
    splits = ctx.splits(cell.task, cell.seed)
    source = ctx.features.source(task)
    return source(cell.strong, splits.train_strong), source(cell.strong, splits.test), splits


PROBE_CEILING = "probe on B gold labels"


def is_text_cell(cell: Cell) -> bool:
    """True if the cell's elicitor trains the model itself (fine-tuning)."""
    return elicitor_inputs(ELICITORS.entry(cell.elicitor.name).factory) == "text"


def ceiling_predictions(ctx: RunContext, cell: Cell) -> tuple[np.ndarray, str]:
    """The ceiling's P(true) on T and what it is.

    For a feature elicitor: the strong model's probe trained on B's gold. For
    a text elicitor (fine-tuning): the strong model trained the same way on
    B's gold with ``xent`` (as in the paper), shared across weak supervisors.
    """
    if is_text_cell(cell):
        return text_ceiling(ctx, cell, _split_inputs(ctx, cell))
    return probe_ceiling(ctx, cell), PROBE_CEILING


def probe_ceiling(ctx: RunContext, cell: Cell) -> np.ndarray:
    """The strong model's probe trained on B's gold labels, scored on T."""
    task = ctx.task(cell.task)
    inputs = {
        **_split_inputs(ctx, cell),
        "features": ctx.features.key(cell.strong, task).hex,
        "elicitor": "probe",
        "params": {},
    }

    def compute() -> dict[str, np.ndarray]:
        x_b, x_t, splits = _strong_xy(ctx, cell)
        y_b = task.labels(splits.train_strong).astype(np.float64)
        probe = LogisticProbe().fit(x_b, y_b, random_state=cell.seed)
        return {"test": probe.predict_proba(x_t)}

    return ctx.store.arrays(ArtifactKey("ceiling", CELL_VERSION, inputs), compute)["test"]


def student_predictions(
    ctx: RunContext, cell: Cell, weak_b: np.ndarray, labels_key: str
) -> dict[str, np.ndarray]:
    """The elicitor trained on B's weak labels only, scored on T (``"test"``).

    A bootstrapping chain also returns each intermediate link's P(true) on T
    (``"links"``, shape (n_links, n_test)).
    """
    if is_text_cell(cell):
        return text_student(ctx, cell, _split_inputs(ctx, cell), weak_b, labels_key)
    task = ctx.task(cell.task)
    inputs = {
        **_split_inputs(ctx, cell),
        "features": ctx.features.key(cell.strong, task).hex,
        "labels": labels_key,
        "elicitor": cell.elicitor.name,
        "params": dict(cell.elicitor.params),
    }

    def compute() -> dict[str, np.ndarray]:
        x_b, x_t, _ = _strong_xy(ctx, cell)
        student = ELICITORS.build(cell.elicitor.name, **cell.elicitor.params)
        assert not isinstance(student, TextElicitor)
        student.fit(x_b, weak_b, random_state=cell.seed)
        return {"test": student.predict_proba(x_t)}

    return ctx.store.arrays(ArtifactKey("predictions", CELL_VERSION, inputs), compute)


PGR_FIELDS = ("weak_acc", "weak_acc_ci", "ceiling_acc", "ceiling_acc_ci", "student_acc",
              "student_acc_ci", "pgr", "pgr_ci", "gap", "gap_ci")  # fmt: skip


def pgr_fields(m: PGRResult) -> dict[str, Any]:
    """The accuracy, gap and PGR fields (with CIs) that cells and groups share."""
    return {k: getattr(m, k) for k in PGR_FIELDS}


def run_cell(ctx: RunContext, cell: Cell) -> CellOutcome:
    """Compute (or fetch) every stage of one cell and measure it."""
    start = time.perf_counter()
    task = ctx.task(cell.task)
    splits = ctx.splits(cell.task, cell.seed)
    labels = supervisor_labels(ctx, cell)
    labels_key = ArtifactKey("labels-ref", CELL_VERSION, {"b": labels["train_strong"]}).hex
    p_ceiling, ceiling_kind = ceiling_predictions(ctx, cell)
    student = student_predictions(ctx, cell, labels["train_strong"], labels_key)
    p_student = student["test"]
    y_t = task.labels(splits.test)
    y_b = task.labels(splits.train_strong)
    p_weak = labels["test"]
    boot = ctx.config.bootstrap
    m = pgr_with_ci(y_t, p_weak, p_student, p_ceiling, n_boot=boot.n_boot, seed=cell.seed)
    flags = []
    if m.small_gap:
        flags.append(FLAG_SMALL_GAP)
    if len(y_t) < boot.min_test:
        flags.append(FLAG_SMALL_TEST)
    if cell.elicitor.params.get("select") == "oracle":
        flags.append(FLAG_ORACLE)
    specs: dict[str, Any] = {
        "task": cell.task.model_dump(mode="json"),
        "task_source": task.source,
        "weak": cell.weak.model_dump(mode="json"),
        "elicitor": cell.elicitor.model_dump(mode="json"),
        "ceiling": ceiling_kind,
    }
    if is_text_cell(cell):  # the fine-tuned ceiling's training settings, in full
        specs["ceiling_params"] = text_ceiling_params(cell)
    if "links" in student:  # bootstrapping: each intermediate link's accuracy on T
        chain = list(cell.elicitor.params.get("chain", []))
        specs["chain"] = [
            {"model": m, "test_acc": accuracy(y_t, p)}
            for m, p in zip(chain, student["links"], strict=True)
        ]
    result = CellResult(
        task=cell.task.label,
        weak=cell.weak.display,
        strong=cell.strong,
        elicitor=cell.elicitor.display,
        seed=cell.seed,
        n_train_weak=len(splits.train_weak),
        n_train_strong=len(splits.train_strong),
        n_test=len(y_t),
        **pgr_fields(m),
        student_auroc=auroc(y_t, p_student),
        ceiling_auroc=auroc(y_t, p_ceiling),
        weak_auroc=auroc(y_t, p_weak),
        agreement=agreement(p_student, p_weak),
        agreement_on_weak_errors=agreement_on_errors(y_t, p_student, p_weak),
        weak_label_acc_train_strong=accuracy(y_b, labels["train_strong"]),
        student_ece=ece(y_t, p_student),
        weak_ece=ece(y_t, p_weak),
        flags=flags,
        specs=specs,
        seconds=round(time.perf_counter() - start, 3),
    )
    return CellOutcome(result, y_t, p_weak, p_student, p_ceiling)
