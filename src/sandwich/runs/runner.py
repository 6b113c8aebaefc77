"""Run an experiment of any kind: plan, prepare, execute, summarise, results.json, report.

The run directory ``<runs>/<name>-<config hash>/`` holds ``config.yaml``,
``results.json``, ``report.md``, ``report.html``, ``cells/<n>.json`` (each
cell's record, written as it lands) and what the kinds write for readers
(``plots/``, ``transcripts/``). Resuming goes through the artifact
store alone: every cell's artifacts are content-addressed, so a second run of
the same config recomputes nothing and a killed run resumes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table as RichTable

from sandwich import __version__
from sandwich.errors import ConfigError
from sandwich.models.generation.base import Generator
from sandwich.report.page import ReportFiles, write_page
from sandwich.results import RunResults, parse_results
from sandwich.runs.config import ExecutorConfig, RunConfig
from sandwich.runs.context import RunContext
from sandwich.runs.executor import CellJob, Executor, LocalExecutor
from sandwich.runs.kinds import Summary, kind_of, stage_resources
from sandwich.runs.plan import Cell, plan_cells
from sandwich.runs.tracking import open_tracker
from sandwich.store import ArtifactStore, atomic_write_text, default_home
from sandwich.store.hashing import digest

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
CONFIG_FILE = "config.yaml"
CELLS_DIR = "cells"


def run_id_for(config: RunConfig) -> str:
    """``<name>-<hash of the config's identity>``: the same config reuses (and resumes) its
    run dir, whichever executor runs it and whatever tracker logs it."""
    return f"{config.name}-{digest(config.identity())[:8]}"


@dataclass(frozen=True)
class RunOutput:
    results: RunResults
    run_dir: Path
    outcomes: list[Any]  # each cell's outcome (the kind's record), in cell order


def run(
    config: RunConfig,
    *,
    runs_root: Path | str = "runs",
    run_id: str | None = None,
    store: ArtifactStore | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    generators: Mapping[str, Generator] | None = None,
) -> RunOutput:
    """Run every cell of ``config`` and write ``<runs_root>/<run_id>/``.

    Every stage is cached in ``store`` (default ``$SANDWICH_HOME``). Cells run on
    ``executor`` (default: the one ``config.executor`` names) and land, one file
    each, in ``<run_dir>/cells/`` as they finish.
    ``generators`` replaces the judge / assistant the config names (by role).
    """
    ctx = RunContext(config, store or ArtifactStore(), progress, generators=dict(generators or {}))
    for i, task_cfg in enumerate(config.tasks):  # bad task parameters fail before any write
        try:
            ctx.task(task_cfg)
        except ConfigError as exc:
            raise ConfigError(f"tasks.{i}: {exc}") from None
    tracker = open_tracker(config, Path(runs_root))  # a missing tracking extra fails here
    if n := ctx.store.clean_stale_tmp():  # builds of killed processes on this host
        log.info("removed %d half-built artifacts of dead processes from the store's tmp/", n)
    run_dir = Path(runs_root) / (run_id or run_id_for(config))
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx.run_dir = run_dir
    atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(config.document(), sort_keys=False))

    cells = plan_cells(config)
    job = CellJob(
        config=config.document(),
        store_root=str(ctx.store.root),
        local=lambda c: kind_of(c.kind).run_cell(ctx, c),
        local_prepare=lambda name, mine: kind_of(name).prepare(ctx, mine),
        resources=lambda c: kind_of(c.kind).resources(config, c),
        has_generators=bool(ctx.generators),
        home=str(default_home()),
        prepare_resources=stage_resources(config, "features"),
    )
    ex = executor or executor_for(config.executor, progress)
    for name in config.kinds:  # what the kind's cells share (w2s: features)
        ex.prepare(job, name, [c for c in cells if c.kind == name])
    outcomes = _run_cells(ctx, ex, job, cells)
    summaries = [
        kind_of(name).summarise(
            ctx, [o for c, o in zip(cells, outcomes, strict=True) if c.kind == name]
        )
        for name in config.kinds
    ]
    results = _envelope(config, run_dir.name, summaries)
    results.warnings.extend(
        f"corrupt cache entry {k[:12]} was detected and recomputed" for k in ctx.store.corrupt_found
    )
    atomic_write_text(run_dir / RESULTS_FILE, results.model_dump_json(indent=2))
    tracker.log_run(results, run_dir, write_report(results, run_dir))
    return RunOutput(results, run_dir, outcomes)


def executor_for(cfg: ExecutorConfig, progress: bool = True) -> Executor:
    """The executor a config's ``executor:`` names (Ray is imported only when asked for)."""
    if cfg.name == "local":
        return LocalExecutor(progress)
    if cfg.name == "ray":
        from sandwich.runs.ray_executor import RayExecutor

        return RayExecutor(cfg, progress)
    raise ConfigError(f"executor.name: unknown executor {cfg.name!r} (allowed: local, ray)")


def _run_cells(ctx: RunContext, ex: Executor, job: CellJob, cells: list[Cell]) -> list[Any]:
    """Every cell's outcome in cell order; each one, as it lands, is written to
    ``<run_dir>/cells/<n>.json`` (atomically: the kind's record of it), so a
    reader sees a long sweep's finished cells while it runs."""
    outcomes: list[Any] = [None] * len(cells)
    done = [False] * len(cells)
    for i, outcome in ex.run(job, cells):
        outcomes[i], done[i] = outcome, True
        record = kind_of(cells[i].kind).cell_record(ctx, outcome)
        if ctx.run_dir is not None:
            doc = {"index": i, "cell": cells[i].model_dump(mode="json"), "outcome": record}
            atomic_write_text(cell_file(ctx.run_dir, i), json.dumps(doc, indent=1))
    if not all(done):
        missing = [cells[i].label for i, d in enumerate(done) if not d]
        raise RuntimeError(f"the executor returned no outcome for {len(missing)} cells: {missing}")
    return outcomes


def cell_file(run_dir: Path, index: int) -> Path:
    """Where cell ``index`` (in plan order) of a run is streamed as it lands."""
    return run_dir / CELLS_DIR / f"{index:05d}.json"


def _envelope(config: RunConfig, run_id: str, summaries: list[Summary]) -> RunResults:
    return RunResults(
        sandwich_version=__version__,
        run_id=run_id,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        config=config.identity(),
        cells=[c for s in summaries for c in s.cells],
        groups=[g for s in summaries for g in s.groups],
        comparisons=[c for s in summaries for c in s.comparisons],
        failures=[f for s in summaries for f in s.failures],
        models={k: v for s in summaries for k, v in s.models.items()},
        warnings=[w for s in summaries for w in s.warnings],
    )


def load_results(run_dir: Path | str) -> RunResults:
    """Read ``results.json`` of a run directory (any kind; earlier versions upgraded)."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: no results.json here; is {run_dir} a run directory?")
    try:
        return parse_results(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path}: not a valid results file: {exc}") from None


def write_report(results: RunResults, run_dir: Path | str) -> ReportFiles:
    """``report.md`` and ``report.html``: the run's header, then each kind's sections."""
    run_dir = Path(run_dir)
    parts = [kind_of(name).report(results, run_dir) for name in results.kinds]
    return write_page(results, parts, run_dir)


def result_tables(results: RunResults) -> list[RichTable]:
    """The tables ``sandwich run`` prints: each kind's."""
    return [t for name in results.kinds for t in kind_of(name).tables(results)]
