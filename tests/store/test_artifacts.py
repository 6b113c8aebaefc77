from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest

from sandwich.store import ArtifactKey, ArtifactStore

KEY = ArtifactKey("demo", 1, {"a": 1, "b": [1, 2]})


def test_key_depends_on_kind_version_and_inputs() -> None:
    assert KEY.hex == ArtifactKey("demo", 1, {"b": [1, 2], "a": 1}).hex  # order-free
    assert KEY.hex != ArtifactKey("demo", 2, {"a": 1, "b": [1, 2]}).hex
    assert KEY.hex != ArtifactKey("other", 1, {"a": 1, "b": [1, 2]}).hex
    assert KEY.hex != ArtifactKey("demo", 1, {"a": 2, "b": [1, 2]}).hex


def test_arrays_computed_once_then_read(store: ArtifactStore) -> None:
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"x": np.arange(6.0).reshape(2, 3)}

    first = store.arrays(KEY, compute)
    second = store.arrays(KEY, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], second["x"])


def test_corrupt_entry_is_detected_reported_and_recomputed(
    store: ArtifactStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.arrays(KEY, lambda: {"x": np.ones(1000)})
    payload = store.path(KEY) / "arrays.npz"
    data = bytearray(payload.read_bytes())
    data[-20] ^= 0xFF  # flip bits inside the array data, same size
    payload.write_bytes(bytes(data))

    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"x": np.full(1000, 2.0)}

    with caplog.at_level("WARNING"):
        out = store.arrays(KEY, compute)
    assert calls == [1], "a corrupt entry must be recomputed"
    np.testing.assert_array_equal(out["x"], np.full(1000, 2.0))
    assert store.corrupt_found == [KEY.hex]
    assert "does not match its checksum" in caplog.text
    store.verify(store.path(KEY))  # the rebuilt entry is sound


def test_missing_manifest_counts_as_corrupt(store: ArtifactStore) -> None:
    store.json(KEY, lambda: {"v": 1})
    (store.path(KEY) / "MANIFEST.json").unlink()
    assert store.json(KEY, lambda: {"v": 2}) == {"v": 2}
    assert store.corrupt_found == [KEY.hex]


def test_failed_build_leaves_nothing_behind(store: ArtifactStore) -> None:
    def boom() -> dict[str, np.ndarray]:
        raise RuntimeError("crash while computing")

    with pytest.raises(RuntimeError):
        store.arrays(KEY, boom)
    assert not store.path(KEY).exists()
    assert list((store.root / "tmp").iterdir()) == []
    assert store.arrays(KEY, lambda: {"x": np.zeros(2)})["x"].shape == (2,)


def test_explain_miss_names_the_differing_input(store: ArtifactStore) -> None:
    store.json(KEY, lambda: 1)
    lines = store.explain_miss(ArtifactKey("demo", 1, {"a": 5, "b": [1, 2]}))
    assert len(lines) == 1 and "a: stored 1 != wanted 5" in lines[0]


def _slow_build(root: str, out: str) -> None:
    store = ArtifactStore(root)

    def compute() -> dict[str, np.ndarray]:
        with open(out, "a") as f:
            f.write("built\n")
        time.sleep(0.5)
        return {"x": np.arange(3)}

    x = store.arrays(KEY, compute)["x"]
    assert x.tolist() == [0, 1, 2]


def test_two_processes_build_once(tmp_path: Path) -> None:
    log = tmp_path / "builds.log"
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_slow_build, args=(str(tmp_path / "s"), str(log))) for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert log.read_text().count("built") == 1
    manifest = json.loads((ArtifactStore(tmp_path / "s").path(KEY) / "MANIFEST.json").read_text())
    assert manifest["inputs"] == {"a": 1, "b": [1, 2]}
