"""Runs: the one engine for every experiment kind: config, planner, kinds, results.

The schemas import eagerly (they are light); ``run`` and the other names of
:mod:`sandwich.runs.runner` on first use (PEP 562), so code that only needs the
schemas (config validation, the study web app) does not pull in the model stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sandwich.results import SCHEMA_VERSION, CellResult, GroupResult, RunResults
from sandwich.runs.config import RunConfig, load_config, parse_config
from sandwich.runs.kinds import KINDS
from sandwich.runs.plan import Cell, plan_cells

if TYPE_CHECKING:
    from sandwich.runs.runner import (
        RunOutput,
        load_results,
        result_tables,
        run,
        run_id_for,
        write_report,
    )

_LAZY = {"RunOutput", "load_results", "result_tables", "run", "run_id_for", "write_report"}
__all__ = [
    "KINDS", "SCHEMA_VERSION", "Cell", "CellResult", "GroupResult", "RunConfig", "RunOutput",
    "RunResults", "load_config", "load_results", "parse_config", "plan_cells", "result_tables",
    "run", "run_id_for", "write_report",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'sandwich.runs' has no attribute {name!r}")
    value = getattr(importlib.import_module("sandwich.runs.runner"), name)
    globals()[name] = value
    return value
