"""Run an experiment: features, cells, aggregation, results.json and report."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from sandwich import __version__
from sandwich.errors import ConfigError
from sandwich.runs.config import RunConfig
from sandwich.runs.context import RunContext
from sandwich.runs.executor import Executor, LocalExecutor
from sandwich.runs.plan import plan_cells
from sandwich.runs.results import RunResults
from sandwich.runs.w2s import (
    CellOutcome,
    aggregate,
    compare_to_controls,
    feature_jobs,
    run_cell,
    run_warnings,
)
from sandwich.store import ArtifactStore, atomic_write_text
from sandwich.store.hashing import digest
from sandwich.tasks import SplitSizes
from sandwich.tasks.leakage import split_warnings

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
CONFIG_FILE = "config.yaml"


def run_id_for(config: RunConfig) -> str:
    """``<name>-<hash of the config>``: the same config reuses (and resumes) its run dir."""
    return f"{config.name}-{digest(config.model_dump(mode='json'))[:8]}"


@dataclass(frozen=True)
class RunOutput:
    results: RunResults
    run_dir: Path
    outcomes: list[CellOutcome]


def run(
    config: RunConfig,
    *,
    runs_root: Path | str = "runs",
    run_id: str | None = None,
    store: ArtifactStore | None = None,
    executor: Executor | None = None,
    progress: bool = True,
) -> RunOutput:
    """Run every cell of ``config`` and write ``<runs_root>/<run_id>/``.

    Every stage is cached in ``store`` (default ``$SANDWICH_HOME``), so a second
    run of the same config recomputes nothing and a killed run resumes.
    """
    store = store or ArtifactStore()
    ctx = RunContext(config, store, progress)
    for i, task_cfg in enumerate(config.tasks):  # bad task parameters fail before any write
        try:
            ctx.task(task_cfg)
        except ConfigError as exc:
            raise ConfigError(f"tasks.{i}: {exc}") from None
    run_dir = Path(runs_root) / (run_id or run_id_for(config))
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        run_dir / CONFIG_FILE, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    )

    for task_cfg, model in feature_jobs(config):  # one model in memory at a time
        ctx.features.table(model, ctx.task(task_cfg))
        ctx.features.release(model)

    cells = plan_cells(config)
    outcomes = list((executor or LocalExecutor(progress)).map(lambda c: run_cell(ctx, c), cells))
    groups = aggregate(outcomes, n_boot=config.bootstrap.n_boot)
    warnings = run_warnings(groups, config.bootstrap.min_test)
    warnings += [
        f"corrupt cache entry {k[:12]} was detected and recomputed" for k in store.corrupt_found
    ]
    sizes = SplitSizes(**config.split.model_dump())
    for task_cfg in config.tasks:  # leaks between A, B and T (tasks.leakage)
        by_seed = {seed: ctx.splits(task_cfg, seed) for seed in config.seeds}
        warnings += split_warnings(ctx.task(task_cfg), by_seed, sizes)
    results = RunResults(
        sandwich_version=__version__,
        run_id=run_dir.name,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        config=config.model_dump(mode="json"),
        cells=[o.result for o in outcomes],
        groups=groups,
        comparisons=compare_to_controls(config, outcomes, config.bootstrap.n_boot),
        warnings=warnings,
    )
    atomic_write_text(run_dir / RESULTS_FILE, results.model_dump_json(indent=2))
    from sandwich.report import write_report  # report reads runs.results: import it late

    write_report(results, run_dir)
    return RunOutput(results, run_dir, outcomes)


def load_results(run_dir: Path | str) -> RunResults:
    """Read ``results.json`` of a run directory (validated against the schema)."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: no results.json here; is {run_dir} a run directory?")
    try:
        return RunResults.model_validate_json(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path}: not a valid results file: {exc}") from None
