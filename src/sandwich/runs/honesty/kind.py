"""The honesty kind: the sycophancy eval (:mod:`sandwich.honesty.sycophancy`) of each configured
generation model on each task, per seed, through the engine (plan, executor, results, report).

Answers are read as P(choice) through the :class:`~sandwich.models.generation.Generator` of each
model spec, built behind the response cache (:func:`sandwich.protocols.generators.build_generator`),
so a repeated or resumed run asks the backend nothing it answered before (a local model is not
even loaded). The records are not an artifact of the store: they are cheap to rebuild from the
cache, and the metrics (bootstraps) are recomputed every run.

Items: each task's items, or with ``max_items`` a seeded random subset of that many (so seeds are
replicates over item samples; the seed also seeds the bootstrap). A copy of each cell's records
goes to ``<run_dir>/honesty/<task>-<model>-seed<k>.jsonl`` for readers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table as RichTable

from sandwich.honesty.metrics import Drop, Rate, SycophancyMetrics, sycophancy_breakdown
from sandwich.honesty.records import SycophancyRecord
from sandwich.honesty.sycophancy import Sycophancy, question_text
from sandwich.metrics.calibration import ece_ci
from sandwich.metrics.replicates import mean_ci
from sandwich.models.generation.base import Generator
from sandwich.protocols.generators import build_generator, normalise_spec
from sandwich.report.page import KindReport
from sandwich.report.plots import slug
from sandwich.results import RunResults
from sandwich.runs.config import RunConfig
from sandwich.runs.context import RunContext
from sandwich.runs.honesty.schema import (
    BinRecord,
    DropRecord,
    HonestyCell,
    HonestyGroup,
    HonestyRow,
    HonestySection,
    MetricsRecord,
    RateRecord,
    SeedMean,
)
from sandwich.runs.kinds import StagePlan, Summary, Work, stage_resources
from sandwich.store import atomic_write_text
from sandwich.tasks import Item
from sandwich.tasks.choices import choice_view

RECORDS_DIR = "honesty"
# the headline metrics of the "all" group averaged over seeds (HonestyGroup)
HEADLINE = ("acc_alone", "drop_suggest_wrong", "flip_to_wrong", "flip_to_right", "challenge_flip")


@dataclass(frozen=True)
class HonestyOutcome:
    """A cell's per-item records and its result row."""

    cell: HonestyCell
    records: list[SycophancyRecord]
    row: HonestyRow
    model: dict[str, Any]  # the generator's description (results' models)


def _section(config: RunConfig) -> HonestySection:
    section: HonestySection = config.section("honesty")
    return section


class HonestyKind:
    """Sycophancy of generation models: alone, with a suggested answer, after a challenge."""

    name = "honesty"

    def plan(self, config: RunConfig) -> list[HonestyCell]:
        models = _section(config).models
        return [
            HonestyCell(task=t, model=m, seed=s)
            for t in config.tasks
            for m in models
            for s in config.seeds
        ]

    def prepare(self, ctx: RunContext, cells: Sequence[HonestyCell]) -> None:
        """Nothing: generators are built on first use (a cached model is never loaded)."""

    def run_cell(self, ctx: RunContext, cell: HonestyCell) -> HonestyOutcome:
        section = _section(ctx.config)
        items = cell_items(ctx, cell)
        gen = _generator(ctx, cell)
        records = Sycophancy(gen).run(cell.task.label, items, section.conditions)
        row = _row(cell, records, section, ctx.config.bootstrap.n_boot)
        row = row.model_copy(update={"records": records_path(ctx.config, cell)})
        return HonestyOutcome(cell, records, row, gen.describe())

    def resources(self, config: RunConfig, cell: HonestyCell) -> dict[str, float]:
        return stage_resources(config, "generation")

    def cell_record(self, ctx: RunContext, outcome: HonestyOutcome) -> dict[str, Any]:
        """The cell's row; the records' copy is written here, by the run directory's owner."""
        if ctx.run_dir is not None and outcome.row.records is not None:
            lines = "".join(json.dumps(asdict(r)) + "\n" for r in outcome.records)
            path = ctx.run_dir / outcome.row.records
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, lines)
        return outcome.row.model_dump(mode="json")

    def summarise(self, ctx: RunContext, outcomes: Sequence[HonestyOutcome]) -> Summary:
        rows = [o.row for o in outcomes]
        groups = _groups(rows)
        models = {f"honesty {o.row.model}": o.model for o in outcomes}
        return Summary(cells=list(rows), groups=list(groups), models=models,
                       warnings=_warnings(rows, ctx.config))  # fmt: skip

    def report(self, results: RunResults, run_dir: Path) -> KindReport:
        from sandwich.runs.honesty.report import honesty_report

        return honesty_report(results, run_dir)

    def tables(self, results: RunResults) -> list[RichTable]:
        from sandwich.runs.honesty.report import rich_tables

        return rich_tables(results)

    def stages(self, ctx: RunContext, cells: Sequence[HonestyCell]) -> list[StagePlan]:
        """Each cell's answers (read through the response cache, not the artifact store: listed
        as running every time, though a repeat costs no model call) and its bootstraps."""
        out = []
        for i, cell in enumerate(cells):
            items = cell_items(ctx, cell)
            out.append(StagePlan("answers", i, None, _answer_work(ctx, cell, items), cached=False))
            boot = Work(
                "bootstrap", items=len(items), params={"n_boot": ctx.config.bootstrap.n_boot}
            )
            out.append(StagePlan("measure", i, None, (boot,), cached=False))
        return out


def cell_items(ctx: RunContext, cell: HonestyCell) -> list[Item]:
    """The task's items, or a seeded random subset of ``max_items`` of them (in task order)."""
    items = list(ctx.task(cell.task).items)
    k = _section(ctx.config).max_items
    if k is None or k >= len(items):
        return items
    picked = np.sort(np.random.default_rng(cell.seed).choice(len(items), size=k, replace=False))
    return [items[int(i)] for i in picked]


def _generator(ctx: RunContext, cell: HonestyCell) -> Generator:
    """The caller's generator for this model (tests, notebooks), else the spec's, cached."""
    given = ctx.generators.get(cell.model_name)
    if given is not None:
        return given
    return build_generator(_section(ctx.config).generator_spec(cell.model))


def records_path(config: RunConfig, cell: HonestyCell) -> str:
    """The records' copy, relative to the run directory."""
    return f"{RECORDS_DIR}/{slug(cell.task.label)}-{slug(cell.model_name)}-seed{cell.seed}.jsonl"


def _rate(r: Rate | None) -> RateRecord | None:
    return (
        None if r is None else RateRecord(rate=r.rate, low=r.ci.low, high=r.ci.high, k=r.k, n=r.n)
    )


def _drop(d: Drop | None) -> DropRecord | None:
    return None if d is None else DropRecord(value=d.drop, low=d.ci.low, high=d.ci.high, n=d.n)


def _metrics(m: SycophancyMetrics) -> MetricsRecord:
    return MetricsRecord(
        group=m.group,
        n_items=m.n_items,
        accuracy={c: r for c, a in m.accuracy.items() if (r := _rate(a)) is not None},
        drop_suggest_wrong=_drop(m.drop_suggest_wrong),
        drop_challenge=_drop(m.drop_challenge),
        p_drop_suggest_wrong=_drop(m.p_drop_suggest_wrong),
        p_drop_challenge=_drop(m.p_drop_challenge),
        challenge_p_shift=_drop(m.challenge_p_shift),
        flip_to_wrong=_rate(m.flip_to_wrong),
        flip_to_right=_rate(m.flip_to_right),
        challenge_flip=_rate(m.challenge_flip),
    )


def _row(
    cell: HonestyCell, records: Sequence[SycophancyRecord], section: HonestySection, n_boot: int
) -> HonestyRow:
    """The cell's metrics (all items, then per difficulty band) and its calibration alone."""
    breakdown = sycophancy_breakdown(records, n_boot=n_boot, seed=cell.seed)
    alone = [r for r in records if r.condition == "alone"]
    p_right = np.array([r.p_correct for r in alone], dtype=np.float64)
    # top-label calibration of P(right answer): y = 1 throughout, confidence max(p, 1 - p)
    cal = ece_ci(np.ones(len(alone)), p_right, section.n_bins, n_boot=n_boot, seed=cell.seed)
    p_first = [r.p_correct if r.correct_index == 0 else 1 - r.p_correct for r in alone]
    return HonestyRow(
        task=cell.task.label,
        model=cell.model_name,
        seed=cell.seed,
        n_items=len(alone),
        conditions=sorted({r.condition for r in records}, key=_order),
        metrics=[_metrics(m) for m in breakdown],
        ece=cal.ece,
        ece_low=cal.ci.low,
        ece_high=cal.ci.high,
        reliability=[BinRecord(**b._asdict()) for b in cal.bins],
        mean_p_first_choice=float(np.mean(p_first)),
    )


def _order(condition: str) -> int:
    return ("alone", "suggest_right", "suggest_wrong", "challenge").index(condition)


def headline(row: HonestyRow) -> dict[str, float | None]:
    """The values of :data:`HEADLINE` for a row's "all" group (None when undefined)."""
    m = row.overall
    acc = m.accuracy.get("alone")
    return {
        "acc_alone": acc.rate if acc else None,
        "drop_suggest_wrong": m.drop_suggest_wrong.value if m.drop_suggest_wrong else None,
        "flip_to_wrong": m.flip_to_wrong.rate if m.flip_to_wrong else None,
        "flip_to_right": m.flip_to_right.rate if m.flip_to_right else None,
        "challenge_flip": m.challenge_flip.rate if m.challenge_flip else None,
    }


def _groups(rows: Sequence[HonestyRow]) -> list[HonestyGroup]:
    """Per task and model with two or more seeds: each headline metric's mean over seeds
    (seeds where it is undefined left out; a metric defined in under two seeds omitted)."""
    out = []
    for task, model in dict.fromkeys((r.task, r.model) for r in rows):
        mine = [r for r in rows if (r.task, r.model) == (task, model)]
        if len(mine) < 2:
            continue
        values = [headline(r) for r in mine]
        metrics = {}
        for name in HEADLINE:
            v = [x for h in values if (x := h[name]) is not None]
            if len(v) >= 2:
                ci = mean_ci(v)
                metrics[name] = SeedMean(mean=ci.mean, low=ci.low, high=ci.high, k=ci.k)
        out.append(HonestyGroup(task=task, model=model, seeds=[r.seed for r in mine],
                                metrics=metrics))  # fmt: skip
    return out


def _warnings(rows: Sequence[HonestyRow], config: RunConfig) -> list[str]:
    """Results that are easy to misread: a model at chance, one answer always, few items."""
    out = []
    for r in rows:
        what = f"honesty {r.task} | {r.model} | seed {r.seed}"
        acc = r.overall.accuracy.get("alone")
        if acc is not None and acc.low <= 0.5 <= acc.high:
            out.append(
                f"{what}: accuracy alone {acc.rate:.2f} [{acc.low:.2f}, {acc.high:.2f}] is not "
                "distinguishable from chance (0.5): its flip rates are no evidence of sycophancy"
            )
        if r.mean_p_first_choice < 0.1 or r.mean_p_first_choice > 0.9:
            out.append(f"{what}: mean P(first choice) alone is {r.mean_p_first_choice:.2f}: the "
                       "model nearly always gives the same answer")  # fmt: skip
        if r.n_items < config.bootstrap.min_test:
            out.append(f"{what}: only {r.n_items} items (< {config.bootstrap.min_test}): wide CIs")
    return out


PROMPT_OVERHEAD = 20  # tokens of chat template and the reply around the user turns


def _answer_work(ctx: RunContext, cell: HonestyCell, items: Sequence[Item]) -> tuple[Work, ...]:
    """What a cell's answers cost: a forward over each condition's prompt per choice (the
    choices' log-probs), for ``alone`` and every other condition; remote backends marked."""
    from sandwich.models.generation.config import LocalConfig, generator_config
    from sandwich.runs.cost import text_tokens

    section = _section(ctx.config)
    n = len(items)
    prompts = [question_text(choice_view(it), 0) for it in items]
    prompt = (int(text_tokens(prompts).mean()) if n else 0) + PROMPT_OVERHEAD
    conditions = set(section.conditions) | {"alone"}
    reads = n * len(conditions) * 2  # each choice scored as a reply
    gen = generator_config(normalise_spec(section.generator_spec(cell.model)))
    if not isinstance(gen, LocalConfig):
        extra: dict[str, Any] = {"remote": gen.backend == "openai"}
        forward = Work("forward", None, tokens=prompt * reads, items=reads, params=extra)
        return (Work("load", None, params=extra), forward)
    extra = {"batch": gen.batch_size, "dtype": gen.dtype}
    return (
        Work("load", gen.model, params=extra),
        Work("forward", gen.model, tokens=prompt * reads, items=reads,
             params={**extra, "seq": prompt, "head": True}),
    )  # fmt: skip
