"""What every tracker shares: the protocol, the no-op tracker, the import check, the error."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Protocol

from sandwich.errors import ConfigError, SandwichError
from sandwich.report.page import ReportFiles
from sandwich.results import RunResults

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


def failed(tracker: str, results: RunResults, run_dir: Path, exc: Exception) -> TrackingError:
    """The error a failed upload raises: the results are safe, and a rerun retries."""
    return TrackingError(
        f"tracking: logging run {results.run_id} to {tracker} failed ({type(exc).__name__}: "
        f"{exc}). The results and report are in {run_dir}; running the same config again "
        "recomputes nothing and logs it again."
    )
