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

from pathlib import Path

from sandwich.runs.config import RunConfig
from sandwich.runs.tracking.base import EXTRA, NoTracker, Tracker, TrackingError

__all__ = ["EXTRA", "NoTracker", "Tracker", "TrackingError", "open_tracker"]


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
