"""Running one w2s cell: its data, the three stages, and the measurements."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandwich.elicit import ELICITORS, ElicitorBase
from sandwich.elicit.base import ZERO_SUPERVISION
from sandwich.metrics import (
    PGRResult,
    accuracy,
    agreement,
    agreement_on_errors,
    auroc,
    ece,
    pgr_with_ci,
)
from sandwich.metrics.calibration import reliability_diagram
from sandwich.results import (
    FLAG_ORACLE,
    FLAG_SMALL_GAP,
    FLAG_SMALL_TEST,
    BinRecord,
    CellResult,
)
from sandwich.runs.context import RunContext
from sandwich.runs.plan import W2SCell as Cell
from sandwich.runs.w2s.data import CellData, build_supervisor
from sandwich.runs.w2s.stages import supervisor_labels, trained, used_spec


@dataclass(frozen=True)
class CellOutcome:
    """A cell's result plus its test-set predictions (kept for cross-seed CIs)."""

    result: CellResult
    y_test: np.ndarray
    p_weak: np.ndarray
    p_student: np.ndarray
    p_ceiling: np.ndarray


PGR_FIELDS = ("weak_acc", "weak_acc_ci", "ceiling_acc", "ceiling_acc_ci", "student_acc",
              "student_acc_ci", "pgr", "pgr_ci", "gap", "gap_ci")  # fmt: skip


def pgr_fields(m: PGRResult) -> dict[str, Any]:
    """The accuracy, gap and PGR fields (with CIs) that cells and groups share."""
    return {k: getattr(m, k) for k in PGR_FIELDS}


def run_cell(ctx: RunContext, cell: Cell) -> CellOutcome:
    """Compute (or fetch) every stage of one cell and measure it."""
    start = time.perf_counter()
    data = CellData.build(ctx, cell)
    sup = build_supervisor(cell.weak)
    elicitor = ELICITORS.build(cell.elicitor.name, **cell.elicitor.params)
    ceiling = elicitor.ceiling()
    labels = supervisor_labels(ctx, data, sup)
    # the ceiling is keyed without the supervisor: cells that train alike share it
    ceil = trained(ctx, data, "ceiling", ceiling, data.gold("train_strong"))
    student = trained(ctx, data, "predictions", elicitor, labels["train_strong"])
    used = {"weak": used_spec(sup, labels), "elicitor": used_spec(elicitor, student),
            "ceiling": used_spec(ceiling, ceil)}  # fmt: skip
    p_student, p_weak, p_ceiling = student["test"], labels["test"], ceil["test"]
    y_t = data.gold("test")
    boot = ctx.config.bootstrap
    m = pgr_with_ci(y_t, p_weak, p_student, p_ceiling, n_boot=boot.n_boot, seed=cell.seed)
    flags = [FLAG_SMALL_GAP] if m.small_gap else []
    if len(y_t) < boot.min_test:
        flags.append(FLAG_SMALL_TEST)
    if elicitor.needs_gold:
        flags.append(FLAG_ORACLE)
    if elicitor.supervision != "labels":  # a reporter that read at most a sign
        flags.append(ZERO_SUPERVISION)
    result = CellResult(
        task=cell.task.label,
        weak=cell.weak.display,
        strong=cell.strong,
        elicitor=cell.elicitor.display,
        seed=cell.seed,
        n_train_weak=len(data.splits.train_weak),
        n_train_strong=len(data.splits.train_strong),
        n_test=len(y_t),
        **pgr_fields(m),
        student_auroc=auroc(y_t, p_student),
        ceiling_auroc=auroc(y_t, p_ceiling),
        weak_auroc=auroc(y_t, p_weak),
        agreement=agreement(p_student, p_weak),
        agreement_on_weak_errors=agreement_on_errors(y_t, p_student, p_weak),
        weak_label_acc_train_strong=accuracy(data.gold("train_strong"), labels["train_strong"]),
        student_ece=ece(y_t, p_student),
        weak_ece=ece(y_t, p_weak),
        **reliability_fields(y_t, {"student": p_student, "ceiling": p_ceiling, "weak": p_weak}),
        flags=flags,
        specs=cell_specs(data, elicitor, ceiling, student.get("links"), used),
        seconds=round(time.perf_counter() - start, 3),
    )
    return CellOutcome(result, y_t, p_weak, p_student, p_ceiling)


def reliability_fields(y_t: np.ndarray, preds: dict[str, np.ndarray]) -> dict[str, Any]:
    """``<role>_reliability``: each role's reliability bins on T (equal-width, so the
    report can pool them over seeds)."""
    return {f"{k}_reliability": BinRecord.of(reliability_diagram(y_t, p)) for k, p in preds.items()}


def cell_specs(
    data: CellData,
    elicitor: ElicitorBase,
    ceiling: ElicitorBase,
    links: np.ndarray | None,
    resolved: dict[str, Any],
) -> dict[str, Any]:
    """What produced the cell: the config entries, the ceiling, and ``resolved``: every
    component's spec with the params it used (defaults filled in, ``auto``s chosen)."""
    cell, y_t = data.cell, data.gold("test")
    specs: dict[str, Any] = {
        "task": cell.task.model_dump(mode="json"),
        "task_source": data.task.source,
        "weak": cell.weak.model_dump(mode="json"),
        "elicitor": cell.elicitor.model_dump(mode="json"),
        "ceiling": f"{ceiling.describe()} on B gold labels",
        "ceiling_params": ceiling.get_params(),
        "supervision": elicitor.supervision,
        "resolved": resolved,
    }
    if links is not None:  # bootstrapping: each intermediate link's accuracy on T
        specs["chain"] = [
            {"model": m, "test_acc": accuracy(y_t, p)}
            for m, p in zip(elicitor.chain_models(), links, strict=True)
        ]
    return specs
