"""The ``sandbagging`` kind as the engine sees it: plan, run, summarise, report, stages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table as RichTable

from sandwich.errors import SandwichError
from sandwich.report.page import KindReport
from sandwich.report.rows import rich, with_ci
from sandwich.results import RunResults
from sandwich.runs.config import RunConfig
from sandwich.runs.context import RunContext
from sandwich.runs.cost import model_width, text_tokens
from sandwich.runs.kinds import StagePlan, Summary, Work, stage_resources
from sandwich.runs.sandbagging.cell import (
    cell_data,
    elicit_key,
    lock_key,
    run_cell,
    weak_a_key,
)
from sandwich.runs.sandbagging.report import records, sandbagging_report, table
from sandwich.runs.sandbagging.schema import (
    FLAG_NO_LOCK,
    SandbaggingCell,
    SandbaggingRecord,
    SandbaggingSection,
)
from sandwich.runs.w2s.data import CellData, build_supervisor
from sandwich.runs.w2s.stages import labels_key
from sandwich.store import ArtifactKey


class SandbaggingKind:
    """A password-locked strong model; each elicitor's recovery of it from weak labels."""

    name = "sandbagging"

    def plan(self, config: RunConfig) -> list[SandbaggingCell]:
        """Ordered task, strong, weak, seed, elicitor: cells sharing a lock stay together."""
        section: SandbaggingSection = config.section(self.name)
        return [
            SandbaggingCell(task=t, strong=s, weak=w, elicitor=e, seed=seed)
            for t in config.tasks
            for s in section.strong
            for w in section.weak
            for seed in config.seeds
            for e in section.elicitors
        ]

    def prepare(self, ctx: RunContext, cells: Sequence[SandbaggingCell]) -> None:
        """The features the weak supervisors read, one model in memory at a time."""
        section: SandbaggingSection = ctx.config.section(self.name)
        models = [m for w in section.weak for m in build_supervisor(w).feature_models()]
        for task_cfg in ctx.config.tasks:
            for model in dict.fromkeys(models):
                ctx.features.table(model, ctx.task(task_cfg))
                ctx.features.release(model)

    def run_cell(self, ctx: RunContext, cell: SandbaggingCell) -> SandbaggingRecord:
        return run_cell(ctx, cell)

    def resources(self, config: RunConfig, cell: SandbaggingCell) -> dict[str, float]:
        return stage_resources(config, "finetune")

    def cell_record(self, ctx: RunContext, outcome: SandbaggingRecord) -> dict[str, Any]:
        return outcome.model_dump(mode="json")

    def summarise(self, ctx: RunContext, outcomes: Sequence[SandbaggingRecord]) -> Summary:
        warnings = [
            f"sandbagging: the lock did not work for {o.task} | {o.strong} | {o.weak} | seed "
            f"{o.seed} (unlocked - locked = {with_ci(o.gap, o.gap_ci)}): no PGR"
            for o in {(o.task, o.strong, o.weak, o.seed): o for o in outcomes}.values()
            if FLAG_NO_LOCK in o.flags
        ]
        return Summary(cells=list(outcomes), warnings=warnings)

    def report(self, results: RunResults, run_dir: Path) -> KindReport:
        return sandbagging_report(results, run_dir)

    def tables(self, results: RunResults) -> list[RichTable]:
        return [rich(table(records(results)), "sandbagging: a password-locked model")]

    def stages(self, ctx: RunContext, cells: Sequence[SandbaggingCell]) -> list[StagePlan]:
        out, locks = [], set()  # one lock per (task, strong, weak, seed): the first cell's
        for i, c in enumerate(cells):
            which = (c.task.model_dump_json(), c.strong, c.weak.model_dump_json(), c.seed)
            for st in _cell_stages(ctx, i, c):
                if st.stage == "lock" and which in locks and st.key is None:
                    st = StagePlan("lock", i, None, (), "locked by an earlier cell (same A)")
                out.append(st)
            locks.add(which)
        return out


def _try(
    build: Callable[[], ArtifactKey | None], why: str
) -> tuple[ArtifactKey | None, str | None]:
    try:
        key = build()
    except (SandwichError, OSError, ValueError) as exc:
        return None, f"key unknown: {exc}"
    return key, None if key is not None else why


def _stored(ctx: RunContext, key: ArtifactKey | None, name: str) -> np.ndarray | None:
    """One array of a stored artifact, or None when it is not stored."""
    if key is None or ctx.store.lookup(key) is None:
        return None
    return ctx.store.arrays(key, dict)[name]


def _tokens(data: CellData, split: Any, max_length: int, prefix: str = "") -> int:
    texts = [prefix + t for t in data.texts(split)]
    return int(np.minimum(text_tokens(texts), max_length).sum())


def _fold_fits(ctx: RunContext, sup: Any, n_a: int, folds: int = 2) -> tuple[Work, ...]:
    """The out-of-fold weak labels of A (``weak_labels_on_a``): a feature-reading supervisor
    fits its probe ``folds`` times, each on the other folds' rows of its model's width."""
    out = []
    for model in sup.feature_models():
        dim = model_width(model, ctx.store)
        rows = n_a - n_a // folds
        out += [Work("probe", items=rows, params={"dim": dim})] * folds
    return tuple(out)


def _cell_stages(ctx: RunContext, i: int, cell: SandbaggingCell) -> list[StagePlan]:
    """weak labels of A (out of fold), the lock, the elicitation, the measurement."""
    section: SandbaggingSection = ctx.config.section("sandbagging")
    data, sup = cell_data(ctx, cell), build_supervisor(cell.weak)
    n_a = len(data.items("train_weak"))
    akey, awhy = _try(lambda: weak_a_key(data, sup), "")
    weak_a = _stored(ctx, akey, "train_weak")
    lkey, lwhy = _try(lambda: None if weak_a is None else lock_key(data, section, weak_a),
                      "its key holds the weak labels of A, which are not stored yet")  # fmt: skip
    pw = section.password + " "
    lp, ep = section.lock, section.elicit
    # the lock, the elicitation and the probe's features run on ``num_threads`` torch threads
    lt, et = {"threads": lp.num_threads}, {"threads": ep.num_threads}
    lock_work = (
        Work("load", cell.strong, params={"fresh": True}),
        Work("train", cell.strong, items=2 * n_a, passes=float(lp.epochs),
             tokens=_tokens(data, "train_weak", lp.max_length)
             + _tokens(data, "train_weak", lp.max_length, pw),
             params={"mode": "lora", "lora_r": lp.lora_r, "batch": lp.minibatch_size,
                     "step_items": lp.batch_size, **lt}),
        Work("forward", cell.strong, items=2 * len(data.items("test")),
             tokens=2 * _tokens(data, "test", lp.max_length), params=lt),
    )  # fmt: skip
    if cell.elicitor == "finetune-gold":
        y_b: np.ndarray | None = data.gold("train_strong")
    else:
        y_b = _stored(ctx, _try(lambda: labels_key(data, sup), "")[0], "train_strong")
    ekey, ewhy = _try(
        lambda: None if lkey is None or y_b is None
        else elicit_key(lkey, section, cell.elicitor, y_b),
        "its key holds the lock and B's labels, which are not stored yet",
    )  # fmt: skip
    n_b, n_t = len(data.items("train_strong")), len(data.items("test"))
    elicit: tuple[Work, ...]
    if cell.elicitor == "probe":  # pooled features of B and T (the lock's length), a probe fit
        elicit = (Work("forward", cell.strong, items=n_b, params=lt,
                       tokens=_tokens(data, "train_strong", lp.max_length)),
                  Work("probe", items=n_b, params={"dim": model_width(cell.strong, ctx.store)}),
                  Work("forward", cell.strong, items=n_t, params=lt,
                       tokens=_tokens(data, "test", lp.max_length)))  # fmt: skip
    else:
        elicit = (Work("train", cell.strong, items=n_b, passes=float(ep.epochs),
                       tokens=_tokens(data, "train_strong", ep.max_length),
                       params={"mode": "lora", "lora_r": lp.lora_r, "batch": ep.minibatch_size,
                               "step_items": ep.batch_size, **et}),
                  Work("forward", cell.strong, items=n_t, params=et,
                       tokens=_tokens(data, "test", ep.max_length)))  # fmt: skip
    n_boot = ctx.config.bootstrap.n_boot
    return [
        StagePlan("weak-labels-A", i, akey, (Work("items", items=n_a), *_fold_fits(ctx, sup, n_a)),
                  awhy),
        StagePlan("lock", i, lkey, lock_work, lwhy, models=(cell.strong,)),
        StagePlan("elicit", i, ekey, (Work("load", cell.strong, params={"fresh": True}),
                                      *elicit), ewhy, models=(cell.strong,)),
        StagePlan("measure", i, None, (Work("bootstrap", items=len(data.items("test")),
                                            params={"n_boot": n_boot}),), cached=False),
    ]  # fmt: skip
