"""A throwaway Ray cluster on 127.0.0.1 and a watched elicitor, for the Ray executor's tests.

:func:`local_cluster` starts a head node (no CPUs: it schedules, it runs no
cell) and ``n_workers`` worker nodes with one CPU each, all on 127.0.0.1,
without the dashboard or usage statistics, and shuts them down on exit.

``probe-watched`` is the logistic probe with a hook in ``fit_cell`` driven by
environment variables (set through the executor's ``runtime_env``, so only
Ray workers see them; a local run of the same config is a plain probe):

- ``SANDWICH_WATCH_DIR``: every fit writes ``attempt-<pid>-<ns>`` there;
- ``SANDWICH_WATCH_HOLD=1``: the first fit anywhere (``held`` created
  exclusively) writes its pid to ``held.pid`` and sleeps, so a test can kill
  that worker mid-cell (while it holds the stage's store lock and a half-built
  artifact in ``tmp/``);
- ``SANDWICH_WATCH_FAIL=1``: every fit raises a ConfigError (a user error,
  which must not be retried).

Workers register it through the runtime_env's ``worker_process_setup_hook``
(:data:`SETUP_HOOK`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from sandwich.elicit.registry import ELICITORS
from sandwich.errors import ConfigError

if TYPE_CHECKING:
    from ray.cluster_utils import Cluster

    from sandwich.elicit.base import CellInputs

WATCHED = "probe-watched"
SETUP_HOOK = "sandwich.testing.ray_cluster.register_watched_elicitor"
OBJECT_STORE_BYTES = 80 * 1024**2  # Ray's minimum is 75 MiB


def register_watched_elicitor() -> None:
    """Register ``probe-watched`` (once per process; the Ray worker setup hook)."""
    if WATCHED in ELICITORS:
        return
    from sandwich.elicit.probe import LogisticProbe

    @ELICITORS.register(WATCHED, params=LogisticProbe.Params)
    class WatchedProbe(LogisticProbe):
        """The logistic probe, with a test hook in fit_cell (module docstring)."""

        def fit_cell(self, data: CellInputs, y: np.ndarray, workdir: Path | None = None) -> Self:
            _watch()
            return super().fit_cell(data, y, workdir)


def _watch() -> None:
    where = os.environ.get("SANDWICH_WATCH_DIR")
    if not where:
        return
    watch = Path(where)
    (watch / f"attempt-{os.getpid()}-{time.time_ns()}").touch()
    if os.environ.get("SANDWICH_WATCH_FAIL"):
        raise ConfigError(f"{WATCHED}: failing as asked (SANDWICH_WATCH_FAIL)")
    if os.environ.get("SANDWICH_WATCH_HOLD"):
        try:
            fd = os.open(watch / "held", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # some fit already held (and was killed): go on
        os.close(fd)
        (watch / "held.pid").write_text(str(os.getpid()))
        time.sleep(300)  # until the test kills this process


def watch_env(watch_dir: Path, **flags: bool) -> dict[str, Any]:
    """The executor's ``runtime_env`` for watched workers (``hold=True``, ``fail=True``)."""
    env = {"SANDWICH_WATCH_DIR": str(watch_dir)}
    env.update({f"SANDWICH_WATCH_{k.upper()}": "1" for k, on in flags.items() if on})
    return {"env_vars": env, "worker_process_setup_hook": SETUP_HOOK}


@contextmanager
def local_cluster(n_workers: int = 2, cpus_per_worker: int = 1) -> Iterator[Cluster]:
    """A Ray head and ``n_workers`` worker nodes on 127.0.0.1; shut down on exit."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray rewrites a loopback address to the host's routable IP (resolve_ip_for_localhost)
    # unless clusters are "not enabled", its switch for single-host use; read at import
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if "ray" in sys.modules:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    from ray.cluster_utils import Cluster

    common: dict[str, Any] = {
        "node_ip_address": "127.0.0.1",
        "object_store_memory": OBJECT_STORE_BYTES,
        "include_dashboard": False,
    }
    cluster = Cluster(initialize_head=True, head_node_args={**common, "num_cpus": 0})
    try:
        for _ in range(n_workers):
            cluster.add_node(**common, num_cpus=cpus_per_worker)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()
