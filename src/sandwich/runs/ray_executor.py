"""The Ray executor: each cell a Ray task on a cluster, sharing one artifact store.

The driver (``sandwich run`` with ``executor: ray``) runs each kind's
``prepare`` (w2s: the features) as one Ray task with the ``features``
resources, then submits every cell as a task asking for the resources its kind
declares (:meth:`ExperimentKind.resources`) and collects outcomes as they land.
A task ships plain values: the config *document*, the cell (pydantic data as
JSON), the artifact store's root path and the driver's ``$SANDWICH_HOME``. The
worker validates the config again, builds its own :class:`RunContext` over the
same store (which must therefore be a path every worker sees: a shared
filesystem; docs/scale.md) and runs the cell like the local executor does.
No labels, items or features travel with a task: a worker loads the task
itself and makes only its own cell's (task, seed) split.

A task whose worker process or node dies is retried (``max_retries``); an
exception raised by the cell itself (a bad input file, a ConfigError) is not:
it is raised on the driver once, as the original exception, and the other
cells are cancelled. Ray is imported only here, and only when asked for."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from sandwich.errors import ConfigError, SandwichError
from sandwich.runs.config import ExecutorConfig, parse_config
from sandwich.runs.context import RunContext
from sandwich.runs.executor import CellJob, cell_progress
from sandwich.runs.kinds import kind_of
from sandwich.runs.plan import Cell
from sandwich.store import ArtifactStore

log = logging.getLogger(__name__)

EXTRA_HINT = "the Ray executor needs the 'ray' extra: pip install 'sandwich[ray]'"
_CELL: TypeAdapter[Cell] = TypeAdapter(Cell)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(f"executor.name: ray: {EXTRA_HINT}") from None
    return ray


def _worker_context(config_doc: dict[str, Any], store_root: str, home: str | None) -> RunContext:
    """A fresh run context in this (worker) process over the shared store.

    ``home`` is the driver's ``$SANDWICH_HOME``, set here too so that what is
    found through it (the generation response cache) is the driver's as well.
    """
    if home is not None:
        os.environ["SANDWICH_HOME"] = home
    config = parse_config(config_doc, "<config shipped to a Ray worker>")
    store = ArtifactStore(store_root)
    store.clean_stale_tmp()  # half-built artifacts of killed processes on this host
    return RunContext(config, store, progress=False)


def run_shipped(
    config_doc: dict[str, Any], cell_doc: dict[str, Any], store_root: str, home: str | None = None
) -> Any:
    """Run one shipped cell in this (worker) process: the body of every cell's Ray task.

    The context is built afresh per cell, so the worker holds only this cell's
    task and this seed's split (no other task's or seed's items or labels).
    """
    cell = _CELL.validate_python(cell_doc)
    return kind_of(cell.kind).run_cell(_worker_context(config_doc, store_root, home), cell)


def prepare_shipped(
    config_doc: dict[str, Any],
    kind: str,
    cell_docs: list[dict[str, Any]],
    store_root: str,
    home: str | None = None,
) -> None:
    """A kind's ``prepare`` (w2s: every feature extraction) in this (worker) process; what
    it makes goes to the shared store, where the cells find it."""
    cells = [_CELL.validate_python(c) for c in cell_docs]
    kind_of(kind).prepare(_worker_context(config_doc, store_root, home), cells)


def task_options(resources: dict[str, float], max_retries: int) -> dict[str, Any]:
    """Ray ``.options()`` for a cell asking ``resources`` (``CPU``, ``GPU``, ``memory`` in
    bytes, or any custom resource of the cluster)."""
    rest = dict(resources)
    options: dict[str, Any] = {
        "num_cpus": rest.pop("CPU", 1.0),
        "num_gpus": rest.pop("GPU", 0.0),
        "max_retries": max_retries,
        "retry_exceptions": False,  # a cell's own error is the same on every try
    }
    if "memory" in rest:
        options["memory"] = int(rest.pop("memory"))  # bytes
    if rest:
        options["resources"] = rest
    return options


def check_shared_path(path: str, what: str = "the artifact store root") -> None:
    """Workers open the store (and ``$SANDWICH_HOME``) by path: it must be absolute (and on
    a shared filesystem)."""
    if not Path(path).is_absolute():
        raise ConfigError(
            f"executor ray: {what} {path!r} is a relative path, which each worker would "
            "resolve in its own working directory. Give an absolute path on a filesystem "
            "every Ray node mounts (SANDWICH_HOME=/shared/sandwich; docs/scale.md)"
        )


class RayExecutor:
    """Runs each cell as a Ray task (module docstring); one progress bar over all cells."""

    def __init__(self, cfg: ExecutorConfig, progress: bool = True) -> None:
        self.cfg = cfg
        self.progress = progress
        self._started = False  # this executor started (or connected) Ray: it disconnects

    def _connect(self, job: CellJob) -> Any:
        """Check what workers will be shipped; connect to (or start) Ray unless this process
        already is (then it is left connected at the end)."""
        if job.has_generators:
            raise ConfigError(
                "executor ray: generators given in Python cannot be shipped to Ray workers; "
                "name them in the config (judge:, assistant:) or use the local executor"
            )
        check_shared_path(job.store_root)
        if job.home is not None:
            check_shared_path(job.home, "SANDWICH_HOME")
        ray = _ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "runtime_env": self.cfg.runtime_env or None,
                "logging_level": logging.WARNING,
            }
            if self.cfg.address is None:  # a Ray instance on this machine, for this run
                kwargs["include_dashboard"] = False
            ray.init(address=self.cfg.address, **kwargs)
            self._started = True
        return ray

    def _disconnect(self, ray: Any) -> None:
        if self._started:
            ray.shutdown()
            self._started = False

    def prepare(self, job: CellJob, kind: str, cells: Sequence[Cell]) -> None:
        """Run ``kind``'s ``prepare`` as one Ray task with the ``features`` resources (so
        the driver needs neither the models nor a GPU)."""
        ray = self._connect(job)
        try:
            opts = task_options(job.prepare_resources, self.cfg.max_retries)
            shipped = [c.model_dump(mode="json") for c in cells]
            task = ray.remote(prepare_shipped).options(name=f"prepare {kind}", **opts)
            ref = task.remote(job.config, kind, shipped, job.store_root, job.home)
            _get(ray, ref, f"prepare {kind}", self.cfg.max_retries)
        except BaseException:
            self._disconnect(ray)
            raise

    def run(self, job: CellJob, cells: Sequence[Cell]) -> Iterator[tuple[int, Any]]:
        ray = self._connect(job)
        try:
            yield from self._run(ray, job, cells)
        finally:
            self._disconnect(ray)

    def _run(self, ray: Any, job: CellJob, cells: Sequence[Cell]) -> Iterator[tuple[int, Any]]:
        task = ray.remote(run_shipped)
        config_ref = ray.put(job.config)  # shipped once, not once per cell
        pending: dict[Any, int] = {}
        for i, cell in enumerate(cells):
            opts = task_options(job.resources(cell), self.cfg.max_retries)
            ref = task.options(name=f"cell {i}: {cell.label}"[:200], **opts).remote(
                config_ref, cell.model_dump(mode="json"), job.store_root, job.home
            )
            pending[ref] = i
        try:
            with cell_progress(len(cells), self.progress) as update:
                while pending:
                    done, _ = ray.wait(list(pending), num_returns=1)
                    for ref in done:
                        i = pending.pop(ref)
                        outcome = _get(ray, ref, f"cell {cells[i].label}", self.cfg.max_retries)
                        update(cells[i].label, 1)
                        yield i, outcome
        finally:
            for ref in pending:  # an error, or the caller stopped: the rest are not needed
                ray.cancel(ref, force=True)


def _get(ray: Any, ref: Any, what: str, max_retries: int) -> Any:
    """The task's outcome; a cell's own error re-raised as itself (once, not retried)."""
    died = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError)  # fmt: skip
    try:
        return ray.get(ref)
    except died as exc:
        raise SandwichError(
            f"{what}: its Ray worker died {max_retries + 1} times "
            f"(executor.max_retries: {max_retries}); its finished stages are in the store, "
            f"so running again resumes. Ray says: {exc}"
        ) from None
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause  # the cell's own exception, as raised on the worker
        if isinstance(cause, BaseException):
            cause.add_note(f"(in the Ray task of {what})")
            raise cause from None
        raise
