"""The Weights & Biases tracker: the MLflow mapping through W&B's runs and groups.

W&B has no nested runs; its grouping is the ``group`` of a run. A sandwich run
is the group ``<run id>``: one W&B run of job type ``run`` (the config, the
counts, and the report files as an artifact of type ``sandwich-report``) and
one of job type ``cell`` or ``group`` per result record (its params as the
run's config, its metrics as its summary). Every W&B run id is derived from
the sandwich run id and the record's key, and runs are opened with
``resume="allow"``, so logging the same run again updates the same W&B runs.

``tracking.mode: offline`` writes everything under ``<run dir>/wandb/``
without any network (``wandb sync <run dir>/wandb/offline-run-*`` uploads it
later); ``online`` needs ``wandb login`` (or ``WANDB_API_KEY``); unset, W&B's
own setting applies (``WANDB_MODE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandwich import __version__
from sandwich.report.page import ReportFiles
from sandwich.results import RunResults
from sandwich.runs.config import RunConfig
from sandwich.runs.tracking.base import failed, need
from sandwich.runs.tracking.records import (
    TAG_CONFIG_HASH,
    TAG_VERSION,
    config_hash,
    entries,
    run_metrics,
    run_params,
)
from sandwich.store.hashing import digest

ARTIFACT_TYPE = "sandwich-report"


def wandb_id(run_id: str, key: str) -> str:
    """A W&B run id for a record of a sandwich run (``run`` for the run itself)."""
    return digest(["sandwich", run_id, key])[:24]


class WandbTracker:
    """Logs a run to W&B, one ``wandb.init`` ... ``finish`` per W&B run."""

    def __init__(self, config: RunConfig) -> None:
        need("wandb", "wandb")
        t = config.tracking
        self.project = t.experiment or config.name
        self.entity, self.mode = t.entity, t.mode

    def log_run(self, results: RunResults, run_dir: Path, files: ReportFiles) -> None:
        try:
            params = {**run_params(results), TAG_VERSION: __version__,
                      TAG_CONFIG_HASH: config_hash(results)}  # fmt: skip
            run = self._init(results, run_dir, "run", results.run_id, "run", params)
            run.summary.update(run_metrics(results))
            run.log_artifact(_report_artifact(results, run_dir, files))
            run.finish()
            for e in entries(results):
                run = self._init(results, run_dir, e.key, e.name, e.record, e.params, [e.kind])
                run.summary.update(e.metrics)
                run.finish()
        except Exception as exc:
            raise failed(f"W&B project {self.project}", results, run_dir, exc) from exc

    def _init(
        self,
        results: RunResults,
        run_dir: Path,
        key: str,
        name: str,
        job_type: str,
        config: Mapping[str, str],
        tags: list[str] | None = None,
    ) -> Any:
        import wandb

        return wandb.init(
            project=self.project,
            entity=self.entity,
            mode=self.mode,
            dir=str(run_dir),  # W&B writes under <run dir>/wandb/
            id=wandb_id(results.run_id, key),
            resume="allow",
            reinit="create_new",
            name=name,
            group=results.run_id,
            job_type=job_type,
            tags=tags,
            config=dict(config),
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
        )


def _report_artifact(results: RunResults, run_dir: Path, files: ReportFiles) -> Any:
    import wandb

    art = wandb.Artifact(f"{results.run_id}-report", type=ARTIFACT_TYPE)
    for name in ("results.json", "config.yaml"):
        if (run_dir / name).is_file():
            art.add_file(str(run_dir / name))
    art.add_file(str(files.markdown))
    art.add_file(str(files.html))
    for plot in files.plots:
        art.add_file(str(plot), name=f"plots/{Path(plot).name}")
    return art
