"""The w2s kind as the engine sees it: a thin adapter over :mod:`sandwich.runs.w2s`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table as RichTable

from sandwich.elicit import ELICITORS
from sandwich.report.page import KindReport
from sandwich.report.terminal import format_table
from sandwich.report.w2s import w2s_report
from sandwich.results import RunResults
from sandwich.runs.config import RunConfig
from sandwich.runs.context import RunContext
from sandwich.runs.kinds import StagePlan, Summary, stage_resources
from sandwich.runs.w2s import (
    CellOutcome,
    aggregate,
    compare_to_controls,
    contrast_jobs,
    feature_jobs,
    run_cell,
    run_warnings,
)
from sandwich.runs.w2s_schema import W2SCell
from sandwich.tasks.leakage import split_warnings


class W2SKind:
    """Weak supervisor -> strong student by each elicitor, PGR against the ceiling."""

    name = "w2s"

    def plan(self, config: RunConfig) -> list[W2SCell]:
        """The grid, ordered task, strong, weak, seed, elicitor: cells that share
        features, labels and ceilings stay together."""
        return [
            W2SCell(task=t, weak=w, strong=s, elicitor=e, seed=seed)
            for t in config.tasks
            for s in config.strong
            for w in config.weak
            for seed in config.seeds
            for e in config.elicitors
        ]

    def prepare(self, ctx: RunContext, cells: Sequence[W2SCell]) -> None:
        contrast = contrast_jobs(ctx.config)
        for task_cfg, model in feature_jobs(ctx.config):  # one model in memory at a time
            ctx.features.table(model, ctx.task(task_cfg))
            if (task_cfg, model) in contrast:
                ctx.features.contrast_table(model, ctx.task(task_cfg))
            ctx.features.release(model)

    def run_cell(self, ctx: RunContext, cell: W2SCell) -> CellOutcome:
        return run_cell(ctx, cell)

    def resources(self, config: RunConfig, cell: W2SCell) -> dict[str, float]:
        """A CPU for a cell whose elicitor reads features; fine-tuning cells may ask a GPU."""
        elicitor = ELICITORS.build(cell.elicitor.name, **cell.elicitor.params)
        return stage_resources(config, "finetune" if elicitor.inputs == "text" else "probe")

    def cell_record(self, ctx: RunContext, outcome: CellOutcome) -> dict[str, Any]:
        """The cell's result record (its test-set predictions stay in the store)."""
        return outcome.result.model_dump(mode="json")

    def summarise(self, ctx: RunContext, outcomes: Sequence[CellOutcome]) -> Summary:
        config = ctx.config
        groups = aggregate(list(outcomes), n_boot=config.bootstrap.n_boot)
        warnings = run_warnings(groups, config.bootstrap.min_test)
        for task_cfg in config.tasks:  # leaks between A, B and T (tasks.leakage)
            by_seed = {seed: ctx.splits(task_cfg, seed) for seed in config.seeds}
            warnings += split_warnings(ctx.task(task_cfg), by_seed, config.split)
        return Summary(
            cells=[o.result for o in outcomes],
            groups=list(groups),
            comparisons=compare_to_controls(config, list(outcomes), config.bootstrap.n_boot),
            warnings=warnings,
        )

    def report(self, results: RunResults, run_dir: Path) -> KindReport:
        return w2s_report(results, run_dir)

    def tables(self, results: RunResults) -> list[RichTable]:
        return [format_table(results)]

    def stages(self, ctx: RunContext, cells: Sequence[W2SCell]) -> list[StagePlan]:
        from sandwich.runs.w2s.stage_plan import w2s_stages

        return w2s_stages(ctx, cells)
