"""``sandwich plan CONFIG``: the cells, their stored and missing stages, and an estimated cost."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sandwich.cli.console import console

if TYPE_CHECKING:
    from sandwich.runs.planning import Plan


def plan_cmd(
    config: Annotated[Path, typer.Argument(help="a YAML run config (any experiment kind)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON")] = False,
    device: Annotated[
        str, typer.Option(help="where the run will compute: cpu or cuda (memory, throughput)")
    ] = "cpu",
    max_rows: Annotated[
        int, typer.Option(help="more stages than this: one summary line per kind and stage")
    ] = 60,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="measure this machine's throughput again")
    ] = False,
) -> None:
    """Show every cell's stages, which are in the store, and what the missing ones will cost
    (nothing runs, no weights load; docs/planning.md)."""
    from sandwich.runs import load_config
    from sandwich.runs.planning import make_plan

    plan = make_plan(load_config(config), device=device, refresh=refresh)
    if as_json:
        print(json.dumps(plan.to_dict(), indent=1))
        return
    console.print(_detail(plan) if len(plan.rows) <= max_rows else _summary(plan))
    _totals(plan)


def _cost(flops: float, seconds: float | None, memory: float) -> tuple[str, str, str]:
    from sandwich.runs.cost import human, seconds_text

    return human(flops, "FLOP"), seconds_text(seconds), human(memory, "B")


def _detail(plan: Plan) -> Table:
    table = Table(title=f"{plan.config}: {plan.n_cells} cells")
    for col in ("cell", "stage", "state", "FLOPs", "time", "memory", "note"):
        table.add_column(col, overflow="fold")
    style = {"stored": "green", "missing": "yellow", "shared": "dim", "runs": "cyan"}
    for r in plan.rows:
        cell = "shared" if r.cell is None else f"{r.cell}: {r.label}"
        state = f"[{style[r.state]}]{r.state}[/]"
        table.add_row(cell, r.stage, state, *_cost(r.flops, r.seconds, r.memory), r.note or "")
    return table


def _summary(plan: Plan) -> Table:
    """One line per (kind, stage, state): how many, and their summed cost."""
    table = Table(title=f"{plan.config}: {plan.n_cells} cells (one line per kind, stage, state)")
    for col in ("kind", "stage", "state", "count", "FLOPs", "time", "peak memory"):
        table.add_column(col)
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    unknown: set[tuple[str, str, str]] = set()
    for r in plan.rows:
        g = groups[(r.kind, r.stage, r.state)]
        g[0] += 1
        g[1] += r.flops
        if r.seconds is None:
            unknown.add((r.kind, r.stage, r.state))
        else:
            g[2] += r.seconds
        g[3] = max(g[3], r.memory)
    for (kind, stage, state), (n, flops, secs, mem) in groups.items():
        s = None if (kind, stage, state) in unknown else secs
        table.add_row(kind, stage, state, str(int(n)), *_cost(flops, s, mem))
    return table


def _totals(plan: Plan) -> None:
    from sandwich.runs.cost import human, seconds_text

    counts = plan.counts()
    by_state = {s: sum(n for (_, _, st), n in counts.items() if st == s)
                for s in ("stored", "missing", "shared", "runs")}  # fmt: skip
    mem = plan.cell_memory()
    console.print(
        f"stages: {by_state['stored']} stored, {by_state['missing']} missing, "
        f"{by_state['shared']} shared, {by_state['runs']} run every time"
    )
    console.print(
        f"to compute: {human(plan.total_flops, 'FLOP')}, about {seconds_text(plan.total_seconds)}"
        f" on {plan.device}" + ("" if plan.throughput else " (no throughput measured for it here)")
    )
    if plan.feature_kernels:
        kernels = "; ".join(f"{m} in {k.replace('+packed', ' (packed linears)')}"
                            for m, k in sorted(plan.feature_kernels.items()))  # fmt: skip
        console.print(f"features costed as they will run here: {kernels}")
    if mem and max(mem.values()) > 0:
        console.print(f"peak memory per cell: up to {human(max(mem.values()), 'B')} "
                      f"(on {plan.device}; docs/planning.md)")  # fmt: skip
    unknown = {r.note for r in plan.rows if r.note and r.note.startswith("key unknown")}
    for note in sorted(unknown):
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"planned in {plan.seconds_to_plan:.2f} s")
