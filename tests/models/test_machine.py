"""Per-machine measurements: fingerprint and the cache under <store root>/machine/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandwich.models import machine


def test_fingerprint_names_cpu_flags_torch_threads_and_device() -> None:
    fp = machine.fingerprint("cpu")
    assert fp["device"] == "cpu"
    assert set(fp["flags"]) == set(machine.RELEVANT_FLAGS)
    assert fp["threads"] >= 1 and fp["torch"] and fp["cpu"]


def test_cpu_info_reads_model_name_and_flags(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512_bf16\n"
    )
    name, flags = machine.cpu_info(info)
    assert name == "Test CPU 9000"
    assert {"avx2", "avx512_bf16"} <= flags


def test_measured_once_then_read_from_the_cache(tmp_path: Path) -> None:
    calls: list[int] = []

    def measure() -> dict[str, float]:
        calls.append(1)
        return {"speed": 2.0}

    fp = {"cpu": "x"}
    assert machine.cached_measurement(tmp_path, "demo", fp, measure, 1) == {"speed": 2.0}
    assert machine.cached_measurement(tmp_path, "demo", fp, measure, 1) == {"speed": 2.0}
    assert len(calls) == 1
    (entry,) = (tmp_path / "machine").glob("demo-*.json")
    record = json.loads(entry.read_text())
    assert record["machine"] == fp and record["result"] == {"speed": 2.0}


def test_another_machine_or_version_measures_again(tmp_path: Path) -> None:
    calls: list[int] = []

    def measure() -> dict[str, int]:
        calls.append(1)
        return {"n": len(calls)}

    machine.cached_measurement(tmp_path, "demo", {"cpu": "a"}, measure, 1)
    assert machine.cached_measurement(tmp_path, "demo", {"cpu": "b"}, measure, 1) == {"n": 2}
    assert machine.cached_measurement(tmp_path, "demo", {"cpu": "a"}, measure, 2) == {"n": 3}
    assert len(list((tmp_path / "machine").glob("demo-*.json"))) == 3


def test_force_and_env_var_remeasure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def measure() -> dict[str, int]:
        calls.append(1)
        return {"n": len(calls)}

    machine.cached_measurement(tmp_path, "demo", {}, measure, 1)
    assert machine.cached_measurement(tmp_path, "demo", {}, measure, 1, force=True) == {"n": 2}
    monkeypatch.setenv(machine.REMEASURE_ENV, "other,demo")
    assert machine.cached_measurement(tmp_path, "demo", {}, measure, 1) == {"n": 3}
    monkeypatch.setenv(machine.REMEASURE_ENV, "other")
    assert machine.cached_measurement(tmp_path, "demo", {}, measure, 1) == {"n": 3}


def test_unreadable_cache_entry_is_measured_again(tmp_path: Path) -> None:
    fp = {"cpu": "x"}
    path = machine.measurement_path(tmp_path, "demo", fp, 1)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert machine.cached_measurement(tmp_path, "demo", fp, lambda: {"ok": True}, 1) == {"ok": True}


def test_bad_measurement_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="measurement name"):
        machine.cached_measurement(tmp_path, "../x", {}, dict, 1)


def test_best_times_interleaves_and_stops_new_rounds_after_the_budget() -> None:
    calls: list[str] = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    best = machine.best_times(fns, rounds=5, budget=0.0)
    # a warm-up call each, then two rounds (the minimum) once the budget is spent
    assert calls == ["a", "b"] * 3 and set(best) == {"a", "b"}
    calls.clear()
    machine.best_times(fns, rounds=4, budget=60.0)
    assert calls == ["a", "b"] * 5
    assert all(0 <= t < 1 for t in best.values())


def test_numbers_names_the_measurement_and_the_keys_it_needs() -> None:
    assert machine.numbers({"x": "1.5", "y": 2}, ("x", "y"), "m") == [1.5, 2.0]
    with pytest.raises(ValueError, match=r"cached thing: needs numeric 'x' and 'y'"):
        machine.numbers({"x": 1.0, "y": "fast"}, ("x", "y"), "cached thing")
