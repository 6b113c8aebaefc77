"""Experiment tracking: a run logs its params, metrics and report to MLflow or W&B.

``tracking:`` in a run config chooses the tracker (docs/tracking.md):
``none`` (the default) logs nothing and imports neither package; ``mlflow``
logs to a local SQLite store next to the run directories unless given a
``uri``; ``wandb`` logs through Weights & Biases, online or offline. The
runner opens the tracker before any cell runs (so a missing ``tracking``
extra fails at once) and logs once the results and the report are written.
Both trackers map a run the same way (:mod:`.records`): one tracker run per
sandwich run, holding the config, the counts and the report files, and one
per cell and per group of seeds, holding its params and metrics; a run that
is started again updates the runs it logged before.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Protocol

from sandwich.errors import ConfigError, SandwichError
from sandwich.report.page import ReportFiles
from sandwich.results import RunResults
from sandwich.runs.config import RunConfig

EXTRA = "tracking"


class TrackingError(SandwichError):
    """Logging to the tracker failed after the run's results were written."""


class Tracker(Protocol):
    def log_run(self, results: RunResults, run_dir: Path, files: ReportFiles) -> None:
        """Log the finished run (its results, report and plots) to the tracker."""
        ...


class NoTracker:
    """``tracking: none``: logs nothing."""

    def log_run(self, results: RunResults, run_dir: Path, files: ReportFiles) -> None:
        return None


def need(module: str, tracker: str) -> ModuleType:
    """Import a tracker's package, or fail naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"tracking: {tracker} needs the `{EXTRA}` extra: pip install 'sandwich[{EXTRA}]' "
            f"(import {module} failed: {exc})"
        ) from None


def open_tracker(config: RunConfig, runs_root: Path) -> Tracker:
    """The tracker ``config.tracking`` names; its package is imported now, before any
    cell runs, so a missing extra costs nothing but the error."""
    name = config.tracking.name
    if name == "mlflow":
        from sandwich.runs.tracking.mlflow_tracker import MlflowTracker

        return MlflowTracker(config, runs_root)
    if name == "wandb":
        from sandwich.runs.tracking.wandb_tracker import WandbTracker

        return WandbTracker(config)
    return NoTracker()


def failed(tracker: str, results: RunResults, run_dir: Path, exc: Exception) -> TrackingError:
    """The error a failed upload raises: the results are safe, and a rerun retries."""
    return TrackingError(
        f"tracking: logging run {results.run_id} to {tracker} failed ({type(exc).__name__}: "
        f"{exc}). The results and report are in {run_dir}; running the same config again "
        "recomputes nothing and logs it again."
    )
