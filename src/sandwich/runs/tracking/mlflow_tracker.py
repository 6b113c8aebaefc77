"""The MLflow tracker: one parent run per sandwich run, one nested run per cell and group.

The default store is MLflow's own default backend, a SQLite database, put next
to the run directories: ``sqlite:///<runs>/mlflow.db``, artifacts in
``<runs>/mlartifacts``. (MLflow 3 keeps the ``./mlruns`` file store only
behind ``MLFLOW_ALLOW_FILE_STORE=true``; ``mlflow ui --backend-store-uri
sqlite:///<runs>/mlflow.db`` opens the SQLite one.) ``tracking.uri`` points
anywhere else MLflow can (a server, a database), ``tracking.experiment``
names the experiment (default: the config's name).

Runs are found again by tags, never by name: the parent by ``sandwich.run_id``,
each nested run by its parent and ``sandwich.key``, so running a config again
updates the same runs (metrics get a new latest value, artifacts are
replaced) instead of adding copies.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sandwich import __version__
from sandwich.errors import ConfigError
from sandwich.report.page import ReportFiles
from sandwich.results import RunResults
from sandwich.runs.config import RunConfig
from sandwich.runs.tracking.base import failed, need
from sandwich.runs.tracking.records import (
    TAG_CONFIG_HASH,
    TAG_KEY,
    TAG_KIND,
    TAG_RECORD,
    TAG_RUN_ID,
    TAG_VERSION,
    config_hash,
    entries,
    run_metrics,
    run_params,
)

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
T = TypeVar("T")

DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
PARENT_TAG = "mlflow.parentRunId"  # what makes a run nested in MLflow's UI
_BAD_KEY = re.compile(r"[^\w.\- /]")  # MLflow's allowed characters in param/metric keys
_MAX_KEY, _MAX_VALUE = 250, 6000  # MLflow's limits on param keys and values


def default_uri(runs_root: Path) -> str:
    """``sqlite:///<runs_root>/mlflow.db`` (absolute)."""
    return f"sqlite:///{(runs_root / DB_FILE).resolve()}"


class MlflowTracker:
    """Logs a run to MLflow through ``MlflowClient`` (no global active run)."""

    def __init__(self, config: RunConfig, runs_root: Path) -> None:
        need("mlflow", "mlflow")
        t = config.tracking
        self.uri = t.uri or default_uri(runs_root)
        self.experiment = t.experiment or config.name
        # a new experiment in a local database keeps its artifacts next to it (MLflow's
        # own default is ./mlruns under whatever directory the process runs in)
        db = Path(self.uri.removeprefix("sqlite:///"))
        local = self.uri.startswith("sqlite:///")
        self.artifact_root = (db.parent / ARTIFACTS_DIR).resolve().as_uri() if local else None
        try:  # reach the store now: a bad uri fails before any cell runs
            from mlflow.tracking import MlflowClient

            if local:
                db.parent.mkdir(parents=True, exist_ok=True)
            self.client = MlflowClient(self.uri)
            self.experiment_id = self._experiment_id(self.client)
        except Exception as exc:
            raise ConfigError(
                f"tracking: cannot use MLflow at {self.uri} ({type(exc).__name__}: {exc})"
            ) from exc

    def log_run(self, results: RunResults, run_dir: Path, files: ReportFiles) -> None:
        client, exp_id = self.client, self.experiment_id
        try:
            parent = self._parent(client, exp_id, results)
            _log(client, parent, run_params(results), run_metrics(results), {})
            _log_files(client, parent.info.run_id, run_dir, files)
            query = f"tags.`{PARENT_TAG}` = {_literal(parent.info.run_id)}"
            children = {r.data.tags.get(TAG_KEY): r for r in _search(client, exp_id, query)}
            for e in entries(results):
                tags = {PARENT_TAG: parent.info.run_id, TAG_RUN_ID: results.run_id,
                        TAG_RECORD: e.record, TAG_KIND: e.kind, TAG_KEY: e.key}  # fmt: skip
                run = children.get(e.key) or client.create_run(exp_id, tags=tags, run_name=e.name)
                _log(client, run, e.params, e.metrics, tags)
                _finish(client, run)
            _finish(client, parent)
        except Exception as exc:
            raise failed(f"MLflow at {self.uri}", results, run_dir, exc) from exc

    def _experiment_id(self, client: MlflowClient) -> str:
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        return str(client.create_experiment(self.experiment, artifact_location=self.artifact_root))

    def _parent(self, client: MlflowClient, exp_id: str, results: RunResults) -> Run:
        """The run's parent MLflow run: the one tagged with its run id, else a new one."""
        query = f"tags.`{TAG_RUN_ID}` = {_literal(results.run_id)} and tags.`{TAG_RECORD}` = 'run'"
        found = list(_search(client, exp_id, query))
        if len(found) > 1:
            log.warning("%d MLflow runs are tagged %s; updating the first", len(found), query)
        tags = {
            TAG_RUN_ID: results.run_id,
            TAG_RECORD: "run",
            TAG_VERSION: __version__,
            TAG_CONFIG_HASH: config_hash(results),
            TAG_KIND: ",".join(results.kinds),
        }
        if found:
            client.set_tag(found[0].info.run_id, TAG_VERSION, __version__)
            return found[0]
        return client.create_run(exp_id, tags=tags, run_name=results.run_id)


def _search(client: MlflowClient, exp_id: str, query: str) -> Iterator[Run]:
    """Every active run of the experiment matching ``query``, page by page."""
    token = None
    while True:
        page = client.search_runs([exp_id], query, max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _finish(client: MlflowClient, run: Run) -> None:
    """Mark a new run finished; a run finished before keeps its times (its duration is
    the first logging's, not the time since)."""
    if run.info.status != "FINISHED":
        client.set_terminated(run.info.run_id, "FINISHED")


def _literal(value: str) -> str:
    """A string literal of MLflow's search syntax (a run id may hold a quote)."""
    return f'"{value}"' if "'" in value else f"'{value}'"


def _key(key: str) -> str:
    return _BAD_KEY.sub("_", key)[:_MAX_KEY]


def _log(
    client: MlflowClient,
    run: Run,
    params: Mapping[str, str],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
) -> None:
    """Params (those not logged yet), metrics (a new latest value) and tags, batched.

    MLflow never changes a logged param: a param whose value differs from the one
    logged before (a new sandwich version resolving a default differently) keeps
    its old value, and the run gets a warning tag naming it."""
    from mlflow.entities import Metric, Param, RunTag

    old = run.data.params
    new = {_key(k): v[:_MAX_VALUE] for k, v in params.items()}
    changed = sorted(k for k, v in new.items() if k in old and old[k] != v)
    if changed:
        log.warning("MLflow run %s keeps its earlier params %s", run.info.run_id, changed)
        tags = {**tags, "sandwich.params_changed": ", ".join(changed)[:_MAX_VALUE]}
    now, run_id = int(time.time() * 1000), run.info.run_id
    for chunk in _chunks([Param(k, v) for k, v in new.items() if k not in old], 100):
        client.log_batch(run_id, params=chunk)
    for tag_chunk in _chunks([RunTag(k, v) for k, v in tags.items()], 100):
        client.log_batch(run_id, tags=tag_chunk)
    for metric_chunk in _chunks([Metric(_key(k), v, now, 0) for k, v in metrics.items()], 1000):
        client.log_batch(run_id, metrics=metric_chunk)


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size`` (MLflow's limits per log_batch call)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _log_files(client: MlflowClient, run_id: str, run_dir: Path, files: ReportFiles) -> None:
    """results.json, config.yaml, the report (md and html) and its plots."""
    for name in ("results.json", "config.yaml"):
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    for path in (files.markdown, files.html):
        client.log_artifact(run_id, str(path))
    for plot in files.plots:
        client.log_artifact(run_id, str(plot), "plots")
