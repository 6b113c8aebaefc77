"""One sandbagging cell: out-of-fold weak labels of A, the lock, the elicitation, the numbers.

Every stage is an artifact keyed by what determines it (the split, the strong
model's fingerprint, the labels by content, the password, template and
training settings), so a rerun reads it and a killed training resumes from its
checkpoints (``$SANDWICH_HOME/checkpoints/<stage key>``, removed once stored).
The weak supervisor's labels of B and T are w2s's own stage
(:func:`sandwich.runs.w2s.stages.supervisor_labels`): a w2s run of the same
task, supervisor and seed shares them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sandwich.elicit import ELICITORS, Elicitor
from sandwich.metrics import accuracy, pgr_with_ci
from sandwich.metrics.bootstrap import bootstrap_accuracies, percentile_interval
from sandwich.results import FLAG_SMALL_TEST
from sandwich.runs.config import ElicitorConfig
from sandwich.runs.context import RunContext
from sandwich.runs.plan import W2SCell
from sandwich.runs.sandbagging.schema import (
    FLAG_GOLD,
    FLAG_NO_LOCK,
    SandbaggingCell,
    SandbaggingRecord,
    SandbaggingSection,
)
from sandwich.runs.w2s.cell import reliability_fields
from sandwich.runs.w2s.data import CellData, build_supervisor
from sandwich.runs.w2s.stages import labels_key, spec_key, supervisor_labels
from sandwich.store import ArtifactKey
from sandwich.supervision import Supervisor

VERSION = 1
Arrays = dict[str, np.ndarray]


def cell_data(ctx: RunContext, cell: SandbaggingCell) -> CellData:
    """The cell's task, split and models, as w2s reads them (its weak labels are w2s's)."""
    as_w2s = W2SCell(task=cell.task, weak=cell.weak, strong=cell.strong,
                     elicitor=ElicitorConfig(name="probe"), seed=cell.seed)  # fmt: skip
    return CellData.build(ctx, as_w2s)


def content(array: np.ndarray) -> str:
    """A key fragment naming labels by their content."""
    return ArtifactKey("labels-ref", VERSION, {"labels": array}).hex


def weak_a_key(data: CellData, sup: Supervisor, folds: int = 2) -> ArtifactKey:
    return ArtifactKey("sandbag-weak-a", VERSION, {"labels": labels_key(data, sup).hex,
                                                   "folds": folds})  # fmt: skip


def weak_labels_on_a(ctx: RunContext, data: CellData, sup: Supervisor, folds: int = 2) -> Arrays:
    """The supervisor's P(true) on A, out of fold: each half labelled by the supervisor fit
    on the other half's gold (fit on all of A, it would label A in-sample, near gold)."""

    def compute() -> Arrays:
        items, source = data.items("train_weak"), data.source
        order = np.random.default_rng([data.seed, 17]).permutation(len(items))
        out = np.empty(len(items))
        for part in np.array_split(order, folds):
            rest = np.setdiff1d(order, part)
            sup.fit([items[i] for i in rest], source, random_state=data.seed)
            out[part] = sup.predict_proba([items[i] for i in part], source)
        return {"train_weak": out}

    return ctx.store.arrays(weak_a_key(data, sup, folds), compute)


def lock_key(data: CellData, section: SandbaggingSection, weak_a: np.ndarray) -> ArtifactKey:
    inputs = {**data.split_key(), "strong": data.fingerprint(data.strong),
              "weak_a": content(weak_a), "password": section.password,
              "template": section.template, "weak_labels": section.weak_labels,
              "lock": section.lock.model_dump()}  # fmt: skip
    return ArtifactKey("sandbag-lock", VERSION, inputs)


def locked(
    ctx: RunContext, data: CellData, section: SandbaggingSection, weak_a: np.ndarray
) -> Arrays:
    """The lock (its trainable weights, ``param:*``) and its P(true) on T without the
    password (``locked``) and with it (``unlocked``)."""
    from sandwich.runs.sandbagging.lock import lock_model, trainable_arrays, with_password

    key = lock_key(data, section, weak_a)
    workdir = ctx.store.root / "checkpoints" / key.hex

    def compute() -> Arrays:
        model = data.model(data.strong)
        imitate = (weak_a > 0.5).astype(float) if section.weak_labels == "hard" else weak_a
        lk = lock_model(model, data.texts("train_weak"), data.gold("train_weak"), imitate,
                        password=section.password, template=section.template,
                        params=section.lock, seed=data.seed, workdir=workdir)  # fmt: skip
        test, threads = data.texts("test"), section.lock.num_threads
        return {**trainable_arrays(lk), "locked": lk.predict(test, threads),
                "unlocked": lk.predict(with_password(test, section.password,
                                                     section.template), threads)}  # fmt: skip

    arrays = ctx.store.arrays(key, compute)
    shutil.rmtree(workdir, ignore_errors=True)
    return arrays


def elicit_key(lock: ArtifactKey, section: SandbaggingSection, elicitor: str,
               y_b: np.ndarray) -> ArtifactKey:  # fmt: skip
    how: Any = (spec_key(ELICITORS.build("probe")) if elicitor == "probe"
                else section.elicit.model_dump())  # fmt: skip
    inputs = {"lock": lock.hex, "elicitor": elicitor, "how": how, "labels": content(y_b)}
    return ArtifactKey("sandbag-elicit", VERSION, inputs)


def elicited(ctx: RunContext, data: CellData, cell: SandbaggingCell, lock: ArtifactKey,
             weights: Arrays, y_b: np.ndarray) -> Arrays:  # fmt: skip
    """The elicitor's P(true) on T, without the password, from B's labels ``y_b``."""
    from sandwich.runs.sandbagging.lock import continue_from, pooled_features, restore

    section: SandbaggingSection = ctx.config.section("sandbagging")
    key = elicit_key(lock, section, cell.elicitor, y_b)
    workdir = ctx.store.root / "checkpoints" / key.hex

    def compute() -> Arrays:
        lk = restore(data.model(data.strong), weights, section.lock, data.seed)
        b, test = data.texts("train_strong"), data.texts("test")
        if cell.elicitor == "probe":
            threads = section.lock.num_threads
            probe = ELICITORS.build("probe")
            if not isinstance(probe, Elicitor):
                raise TypeError("the probe elicitor reads features")
            probe.fit(pooled_features(lk, b, threads), y_b, random_state=data.seed)
            return {"test": probe.predict_proba(pooled_features(lk, test, threads))}
        continue_from(lk, b, y_b, section.elicit, seed=data.seed, workdir=workdir)
        return {"test": lk.predict(test, section.elicit.num_threads)}

    arrays = ctx.store.arrays(key, compute)
    shutil.rmtree(workdir, ignore_errors=True)
    return arrays


def _ci(y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    reps = bootstrap_accuracies(y, {"p": p}, n_boot=n_boot, seed=seed)[:, 0]
    low, high = percentile_interval(reps)
    return float(low), float(high)


def run_cell(
    ctx: RunContext, cell: SandbaggingCell, timer: Callable[[], float] = time.perf_counter
) -> SandbaggingRecord:
    """Every stage of one cell (computed or read), and its measurements on T."""
    start = timer()
    section: SandbaggingSection = ctx.config.section("sandbagging")
    data = cell_data(ctx, cell)
    sup = build_supervisor(cell.weak)
    labels = supervisor_labels(ctx, data, sup)  # fit on A's gold: P(true) on B and T
    weak_a = weak_labels_on_a(ctx, data, sup)["train_weak"]
    lock = locked(ctx, data, section, weak_a)
    gold_b = cell.elicitor == "finetune-gold"
    y_b = data.gold("train_strong") if gold_b else labels["train_strong"]
    out = elicited(ctx, data, cell, lock_key(data, section, weak_a), lock, y_b)
    y_t, boot = data.gold("test"), ctx.config.bootstrap
    # PGR's floor is the locked model, its ceiling the unlocked one (w2s's paired bootstrap)
    m = pgr_with_ci(y_t, lock["locked"], out["test"], lock["unlocked"],
                    n_boot=boot.n_boot, seed=cell.seed)  # fmt: skip
    worked = not m.small_gap
    flags = ([] if worked else [FLAG_NO_LOCK]) + ([FLAG_GOLD] if gold_b else [])
    if len(y_t) < boot.min_test:
        flags.append(FLAG_SMALL_TEST)
    return SandbaggingRecord(
        task=cell.task.label, strong=cell.strong, weak=cell.weak.display,
        elicitor=cell.elicitor, seed=cell.seed, n_lock=2 * len(weak_a), n_elicit=len(y_b),
        n_test=len(y_t), weak_acc=accuracy(y_t, labels["test"]),
        weak_acc_ci=_ci(y_t, labels["test"], boot.n_boot, cell.seed),
        locked_acc=m.weak_acc, locked_acc_ci=m.weak_acc_ci,
        unlocked_acc=m.ceiling_acc, unlocked_acc_ci=m.ceiling_acc_ci,
        elicited_acc=m.student_acc, elicited_acc_ci=m.student_acc_ci,
        gap=m.gap, gap_ci=m.gap_ci, lock_worked=worked,
        pgr=m.pgr if worked else None, pgr_ci=m.pgr_ci if worked else (None, None),
        **reliability_fields(y_t, {"locked": lock["locked"], "unlocked": lock["unlocked"],
                                   "elicited": out["test"]}),
        flags=flags,
        specs={"password": section.password, "template": section.template,
               "lock": section.lock.model_dump(), "elicit": section.elicit.model_dump(),
               "weak_label_acc_a": accuracy(data.gold("train_weak"), weak_a),
               "weak_label_acc_b": accuracy(data.gold("train_strong"), labels["train_strong"])},
        seconds=round(timer() - start, 3),
    )  # fmt: skip
