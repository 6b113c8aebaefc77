"""The store across processes: a builder SIGKILLed mid-build leaves nothing half-written
and the others finish; without a working lock (NFS mounted ``nolock``) a lost rename
race keeps the first build."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest

from sandwich.store import ArtifactKey, ArtifactStore

KEY = ArtifactKey("demo", 1, {"shared": True})
PAYLOAD = b"x" * 100_000


def _build(root: str, log: str, hold: bool) -> None:
    """Build KEY; with ``hold``, write half the payload, announce it, and wait to be killed."""

    def build(tmp: Path) -> None:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        if hold:
            (tmp / "payload.bin").write_bytes(PAYLOAD[: len(PAYLOAD) // 2])
            Path(log).with_suffix(".held").write_text(str(os.getpid()))
            time.sleep(120)
        (tmp / "payload.bin").write_bytes(PAYLOAD)

    path = ArtifactStore(root).get_or_build(KEY, build)
    assert (path / "payload.bin").read_bytes() == PAYLOAD


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_a_builder_killed_mid_build_leaves_nothing_half_written(tmp_path: Path) -> None:
    root, log = tmp_path / "store", tmp_path / "builds.log"
    ctx = mp.get_context("spawn")
    victim = ctx.Process(target=_build, args=(str(root), str(log), True))
    victim.start()
    _wait_for(log.with_suffix(".held"))  # it holds the key's lock, half a payload in tmp/
    others = [ctx.Process(target=_build, args=(str(root), str(log), False)) for _ in range(3)]
    for p in others:
        p.start()
    time.sleep(1.0)  # they wait on the lock
    store = ArtifactStore(root)
    assert store.lookup(KEY) is None, "nothing is reachable while the build runs"
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(10)
    for p in others:
        p.join(60)
        assert p.exitcode == 0
    builders = log.read_text().split()
    assert builders[0] == str(victim.pid) and len(builders) == 2, "one survivor built it, once"
    store.verify(store.path(KEY))
    assert (store.path(KEY) / "payload.bin").read_bytes() == PAYLOAD
    (left,) = list((root / "tmp").iterdir())  # the killed build: unreachable, recognisable
    assert store.stale_tmp() == [left] and f"-{victim.pid}-" in left.name
    assert store.clean_stale_tmp() == 1 and list((root / "tmp").iterdir()) == []


def test_a_lost_rename_race_keeps_the_first_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hosts whose locks do not see each other build the same key at once."""
    store = ArtifactStore(tmp_path / "store")
    monkeypatch.setattr(store, "_lock", lambda key: contextlib.nullcontext())

    def slower(tmp: Path) -> None:  # the other host finishes while this one builds
        ArtifactStore(store.root).get_or_build(
            KEY, lambda d: (d / "payload.bin").write_bytes(PAYLOAD)
        )
        (tmp / "payload.bin").write_bytes(PAYLOAD)

    path = store.get_or_build(KEY, slower)
    store.verify(path)
    assert list((store.root / "tmp").iterdir()) == []
    assert store.stale_tmp() == []


def test_tmp_of_a_live_builder_is_not_stale(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    seen: list[list[Path]] = []
    store.get_or_build(KEY, lambda d: seen.append(store.stale_tmp()))
    assert seen == [[]]


def test_a_killed_but_unreaped_builder_counts_as_dead(tmp_path: Path) -> None:
    """A worker's parent may not have reaped it yet: its leftover is stale all the same."""
    import subprocess
    import sys

    from sandwich.store.artifacts import _alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert _alive(child.pid)
    child.kill()
    deadline = time.monotonic() + 10
    while _alive(child.pid) and time.monotonic() < deadline:  # a zombie until wait()
        time.sleep(0.05)
    assert not _alive(child.pid)
    child.wait()
