"""The Ray executor on a real Ray cluster on 127.0.0.1 (a head and two worker nodes):
a sweep whose worker is SIGKILLed mid-cell completes with the local executor's
results.json and a sound store; a cell's own error is raised once, not retried; a
worker dying more often than max_retries fails the run with a clear error."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandwich.errors import ConfigError, SandwichError
from sandwich.runs import load_results, parse_config
from sandwich.runs.runner import RunOutput, run
from sandwich.store import ArtifactStore
from sandwich.testing.ray_cluster import (
    WATCHED,
    local_cluster,
    register_watched_elicitor,
    watch_env,
)

pytestmark = pytest.mark.integration

BASE: dict[str, Any] = {
    "name": "sweep",
    "task": {"name": "arithmetic", "n_items": 300},
    "seeds": [0, 1],
    "weak": ["fake-weak"],
    "strong": ["fake-strong"],
    "elicitors": ["probe", WATCHED],
    "bootstrap": {"n_boot": 100},
}
RUN_LOCAL = {"created", "seconds"}  # wall-clock fields: differ between any two runs


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    register_watched_elicitor()  # the driver validates configs naming it
    with local_cluster(n_workers=2, cpus_per_worker=1) as c:
        yield c


def _config(cluster: Any, runtime_env: dict[str, Any], retries: int = 2, **extra: Any) -> Any:
    executor = {"name": "ray", "address": cluster.address, "max_retries": retries,
                "runtime_env": runtime_env}  # fmt: skip
    return parse_config({**BASE, **extra, "executor": executor})


def _without(doc: Any, keys: set[str]) -> Any:
    if isinstance(doc, dict):
        return {k: _without(v, keys) for k, v in doc.items() if k not in keys}
    if isinstance(doc, list):
        return [_without(v, keys) for v in doc]
    return doc


def _kill_when_held(watch: Path, killed: list[int]) -> None:
    deadline = time.monotonic() + 90
    while not (watch / "held.pid").exists():
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    time.sleep(0.2)  # let it write its pid fully
    pid = int((watch / "held.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    killed.append(pid)


def _store_is_sound(store: ArtifactStore) -> None:
    """Every artifact verifies; nothing half-built is reachable; all locks are free."""
    from filelock import FileLock

    dirs = list((store.root / "artifacts").glob("*/*/*"))
    assert dirs and not [d for d in dirs if ".corrupt-" in d.name]
    for d in dirs:
        store.verify(d)
    for lock in (store.root / "locks").glob("*.lock"):
        with FileLock(str(lock), timeout=0):
            pass


def test_a_killed_worker_is_retried_and_the_run_matches_the_local_executor(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    cfg = _config(cluster, watch_env(watch, hold=True))
    store = ArtifactStore(tmp_path / "store")
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_held, args=(watch, killed), daemon=True)
    killer.start()
    with monkeypatch.context() as m:  # features are extracted on a worker, not here

        def refuse(*args: Any) -> None:
            raise AssertionError("the driver extracted features")

        m.setattr("sandwich.runs.features.TaskFeatures.table", refuse)
        out: RunOutput = run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    killer.join(5)
    assert list((store.root / "artifacts" / "features").glob("*/*")), "made on a worker"

    assert killed, "a worker was holding a cell and was killed"
    attempts = sorted(watch.glob("attempt-*"))
    assert any(f"-{killed[0]}-" in a.name for a in attempts)
    assert len(attempts) == 3, "two watched cells, one of them run again after the kill"
    assert os.getpid() not in {int(a.name.split("-")[1]) for a in attempts}, "ran on workers"

    local = run(
        cfg.with_executor("local"),
        runs_root=tmp_path / "local-runs",
        store=ArtifactStore(tmp_path / "local-store"),
        progress=False,
    )
    assert out.run_dir.name == local.run_dir.name, "the run id does not depend on the executor"
    on_ray = load_results(out.run_dir).model_dump(mode="json")
    here = load_results(local.run_dir).model_dump(mode="json")
    assert _without(on_ray, RUN_LOCAL) == _without(here, RUN_LOCAL)
    assert "executor" not in on_ray["config"]
    assert "ray" in (out.run_dir / "config.yaml").read_text(), "config.yaml records it"

    streamed = sorted((out.run_dir / "cells").glob("*.json"))
    assert len(streamed) == len(on_ray["cells"]) == 4
    _store_is_sound(store)
    # the killed build was never renamed in, and the rerun removed its leftover
    assert list((store.root / "tmp").iterdir()) == []


def test_an_error_in_a_cell_is_raised_once_and_not_retried(cluster: Any, tmp_path: Path) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    cfg = _config(cluster, watch_env(watch, fail=True), seeds=[0], elicitors=[WATCHED])
    with pytest.raises(ConfigError, match="failing as asked") as info:
        run(cfg, runs_root=tmp_path / "runs", store=ArtifactStore(tmp_path / "s"), progress=False)
    assert any("in the Ray task of cell" in n for n in getattr(info.value, "__notes__", []))
    assert len(list(watch.glob("attempt-*"))) == 1, "a user error is not retried"


def test_a_cell_whose_worker_dies_more_than_max_retries_fails_clearly(
    cluster: Any, tmp_path: Path
) -> None:
    watch = tmp_path / "watch"
    watch.mkdir()
    cfg = _config(cluster, watch_env(watch, hold=True), retries=0, seeds=[0], elicitors=[WATCHED])
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_held, args=(watch, killed), daemon=True)
    killer.start()
    with pytest.raises(SandwichError, match=r"Ray worker died 1 times \(executor.max_retries: 0\)"):
        run(cfg, runs_root=tmp_path / "runs", store=ArtifactStore(tmp_path / "s"), progress=False)
    killer.join(5)
    assert killed and len(list(watch.glob("attempt-*"))) == 1
