"""Runs: config schema, planner, executors, results, and the run itself."""

from sandwich.runs.config import RunConfig, load_config, parse_config
from sandwich.runs.plan import Cell, plan_cells
from sandwich.runs.results import SCHEMA_VERSION, CellResult, GroupResult, RunResults
from sandwich.runs.run import RunOutput, load_results, run, run_id_for

__all__ = [
    "SCHEMA_VERSION",
    "Cell",
    "CellResult",
    "GroupResult",
    "RunConfig",
    "RunOutput",
    "RunResults",
    "load_config",
    "load_results",
    "parse_config",
    "plan_cells",
    "run",
    "run_id_for",
]
