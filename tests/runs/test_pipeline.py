"""The whole pipeline on the fake backend: seconds, no real model."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import pytest

from sandwich.elicit import ELICITORS, LogisticProbe
from sandwich.runs import RunResults, parse_config, run
from sandwich.runs.executor import LocalExecutor
from sandwich.runs.plan import Cell
from sandwich.store import ArtifactStore

RECORDED: list[np.ndarray] = []


@ELICITORS.register("test-recording-probe", summary="probe that records its labels (tests)")
class RecordingProbe(LogisticProbe):
    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> Self:
        RECORDED.append(np.asarray(y).copy())
        return super().fit(X, y, random_state)


def config(**overrides: Any):  # type: ignore[no-untyped-def]
    base: dict[str, Any] = {
        "name": "fake",
        "tasks": [{"name": "arithmetic", "n_items": 1000}],
        "weak": ["fake-weak", {"name": "nonexpert", "params": {"knowledge": 0.6}}],
        "strong": ["fake-strong"],
        "elicitors": ["probe", "probe-logconf"],
        "seeds": [0, 1],
        "bootstrap": {"n_boot": 200},
    }
    return parse_config({**base, **overrides})


def numbers(results: RunResults) -> list[tuple[Any, ...]]:
    return [
        (
            c.task,
            c.weak,
            c.strong,
            c.elicitor,
            c.seed,
            c.weak_acc,
            c.student_acc,
            c.ceiling_acc,
            c.pgr,
            tuple(c.pgr_ci),
        )
        for c in results.cells
    ]


def test_run_writes_results_and_report_with_a_real_ladder(tmp_path: Path) -> None:
    out = run(
        config(), runs_root=tmp_path / "runs", store=ArtifactStore(tmp_path / "s"), progress=False
    )
    d = out.run_dir
    for name in ("config.yaml", "results.json", "report.md", "report.html"):
        assert (d / name).is_file(), name
    data = json.loads((d / "results.json").read_text())
    assert data["schema_version"] == 2 and {c["kind"] for c in data["cells"]} == {"w2s"}
    # weak x strong x elicitors x seeds; probe-logconf's control is added as a third elicitor
    assert len(data["cells"]) == 2 * 1 * 3 * 2
    required = {
        "task",
        "weak",
        "strong",
        "elicitor",
        "seed",
        "n_test",
        "weak_acc",
        "ceiling_acc",
        "student_acc",
        "pgr",
        "pgr_ci",
        "agreement",
        "flags",
    }
    assert required <= set(data["cells"][0])
    fake_weak = [c for c in out.results.cells if c.weak == "fake-weak"]
    for c in fake_weak:
        assert c.n_test == 300
        assert 0.6 < c.weak_acc < 0.8  # fake-weak knows 70% of the sums
        assert c.ceiling_acc > c.weak_acc + 0.1
        assert c.pgr_ci[0] <= c.pgr <= c.pgr_ci[1]
        assert 0.0 <= c.agreement <= 1.0
    assert len(out.results.groups) == 2 * 3
    g = out.results.groups[0]
    assert g.seeds == [0, 1] and g.pgr_ci[0] <= g.pgr <= g.pgr_ci[1]
    # one paired comparison per weak supervisor: probe-logconf minus its control
    assert [(c.weak, c.method, c.control) for c in out.results.comparisons] == [
        ("fake-weak", "probe-logconf", "probe-logconf-control"),
        ("nonexpert", "probe-logconf", "probe-logconf-control"),
    ]
    for comp in out.results.comparisons:
        cells = [c for c in out.results.cells if c.weak == comp.weak]
        acc = {(c.elicitor, c.seed): c.student_acc for c in cells}
        diffs = [acc[("probe-logconf", s)] - acc[("probe-logconf-control", s)] for s in (0, 1)]
        assert comp.seed_diffs == pytest.approx(diffs)
        assert comp.diff == pytest.approx(sum(diffs) / 2) and comp.n_seeds == 2
        assert comp.interval == "t over seeds" and comp.method_kind == "features"
        assert comp.diff_ci[0] <= comp.diff <= comp.diff_ci[1]
    assert "probe-logconf − probe-logconf-control" in (d / "report.md").read_text()


def test_same_config_same_numbers_and_second_run_recomputes_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    first = run(config(), runs_root=tmp_path / "r1", store=store, progress=False)
    artifacts = sorted(p.name for p in (tmp_path / "s" / "artifacts").glob("*/*/*"))
    second = run(config(), runs_root=tmp_path / "r1", store=store, progress=False)
    assert numbers(first.results) == numbers(second.results)
    assert sorted(p.name for p in (tmp_path / "s" / "artifacts").glob("*/*/*")) == artifacts
    fresh = run(
        config(), runs_root=tmp_path / "r2", store=ArtifactStore(tmp_path / "s2"), progress=False
    )
    assert numbers(first.results) == numbers(fresh.results)


class CrashingExecutor(LocalExecutor):
    """Runs ``n`` cells, then dies like a killed process would."""

    def __init__(self, n: int) -> None:
        super().__init__(progress=False)
        self.n = n

    def map(self, fn: Callable[[Cell], Any], cells: Sequence[Cell]) -> Iterator[Any]:
        for i, cell in enumerate(cells):
            if i == self.n:
                raise KeyboardInterrupt("killed")
            yield fn(cell)


def test_killed_run_resumes_and_gives_the_same_results(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    with pytest.raises(KeyboardInterrupt):
        run(
            config(),
            runs_root=tmp_path / "r",
            store=store,
            executor=CrashingExecutor(3),
            progress=False,
        )
    done = {p: p.stat().st_mtime_ns for p in (tmp_path / "s" / "artifacts").glob("*/*/*")}
    assert not list((tmp_path / "r").glob("*/results.json")), "no results from a killed run"
    resumed = run(config(), runs_root=tmp_path / "r", store=store, progress=False)
    for p, mtime in done.items():  # finished stages were reused, not rebuilt
        assert p.stat().st_mtime_ns == mtime
    uninterrupted = run(
        config(), runs_root=tmp_path / "u", store=ArtifactStore(tmp_path / "s2"), progress=False
    )
    assert numbers(resumed.results) == numbers(uninterrupted.results)


def test_student_sees_only_the_supervisor_labels_of_b(tmp_path: Path) -> None:
    RECORDED.clear()
    cfg = config(weak=["fake-weak"], elicitors=["test-recording-probe"], seeds=[0])
    out = run(cfg, runs_root=tmp_path / "r", store=ArtifactStore(tmp_path / "s"), progress=False)
    assert len(RECORDED) == 1
    y = RECORDED[0]
    cell = out.results.cells[0]
    assert len(y) == cell.n_train_strong
    # soft labels from the weak probe, not the 0/1 gold labels
    assert np.mean((y > 0.01) & (y < 0.99)) > 0.5
    assert cell.weak_label_acc_train_strong < 0.85
    # exactly the supervisor's P(true) on B, in B's order: nothing else reaches the student
    from sandwich.runs.context import RunContext
    from sandwich.runs.plan import plan_cells
    from sandwich.runs.w2s.data import CellData, build_supervisor
    from sandwich.runs.w2s.stages import supervisor_labels

    ctx = RunContext(cfg, ArtifactStore(tmp_path / "s"), progress=False)
    first = plan_cells(cfg)[0]
    labels = supervisor_labels(ctx, CellData.build(ctx, first), build_supervisor(first.weak))
    np.testing.assert_array_equal(y, labels["train_strong"])
    gold_b = ctx.task(cfg.tasks[0]).labels(ctx.splits(cfg.tasks[0], 0).train_strong)
    assert not np.array_equal(y >= 0.5, gold_b)


def test_adding_an_elicitor_recomputes_only_that_elicitor(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    run(config(elicitors=["probe"]), runs_root=tmp_path / "r", store=store, progress=False)
    kinds_before = {k.name: len(list(k.glob("*/*"))) for k in (tmp_path / "s/artifacts").iterdir()}
    run(config(), runs_root=tmp_path / "r", store=store, progress=False)
    kinds_after = {k.name: len(list(k.glob("*/*"))) for k in (tmp_path / "s/artifacts").iterdir()}
    changed = {k for k in kinds_after if kinds_after[k] != kinds_before.get(k)}
    assert changed == {"predictions"}
    # probe-logconf and its control (added automatically)
    assert kinds_after["predictions"] == 3 * kinds_before["predictions"]


def test_small_test_split_is_warned_in_results_and_report(tmp_path: Path) -> None:
    cfg = config(
        tasks=[{"name": "arithmetic", "n_items": 200}],
        weak=["fake-weak"],
        elicitors=["probe"],
        seeds=[0],
    )
    out = run(cfg, runs_root=tmp_path / "r", store=ArtifactStore(tmp_path / "s"), progress=False)
    assert "small_test" in out.results.cells[0].flags
    assert any("test items" in w for w in out.results.warnings)
    assert "test items" in (out.run_dir / "report.md").read_text()


def test_sigkilled_process_resumes_to_the_same_results(tmp_path: Path) -> None:
    """A real `sandwich run` process killed with SIGKILL mid-run, then run again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    data = {
        "name": "kill",
        "tasks": [{"name": "arithmetic", "n_items": 800}],
        "weak": ["fake-weak", "fake-mid"],
        "strong": ["fake-strong"],
        "elicitors": ["probe", "probe-logconf"],
        "seeds": [0, 1],
        "bootstrap": {"n_boot": 200},
    }
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    env = {**os.environ, "SANDWICH_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "sandwich", "run", str(cfg), "--runs", str(tmp_path / "r"), "-q"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    predictions = tmp_path / "home" / "artifacts" / "predictions"
    while time.monotonic() < deadline and proc.poll() is None:
        if predictions.exists() and len(list(predictions.glob("*/*"))) >= 2:
            break  # killed in the middle of the cells, after some were stored
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not list((tmp_path / "r").glob("*/results.json"))
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    resumed = json.loads(next((tmp_path / "r").glob("*/results.json")).read_text())
    fresh = run(parse_config(data), runs_root=tmp_path / "u",
                store=ArtifactStore(tmp_path / "s2"), progress=False)  # fmt: skip
    assert [
        (c["weak"], c["elicitor"], c["seed"], c["student_acc"], c["pgr"]) for c in resumed["cells"]
    ] == [(c.weak, c.elicitor, c.seed, c.student_acc, c.pgr) for c in fresh.results.cells]


def test_a_user_task_file_runs_end_to_end(tmp_path: Path) -> None:
    from sandwich.tasks import load_task

    items = load_task("arithmetic", n_items=600, seed=3).items
    path = tmp_path / "sums.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"text": it.text, "label": it.label, "difficulty": it.difficulty})
            for it in items
        )
    )
    cfg = config(tasks=[{"path": str(path)}], weak=["fake-weak"], elicitors=["probe"], seeds=[0])
    out = run(cfg, runs_root=tmp_path / "r", store=ArtifactStore(tmp_path / "s"), progress=False)
    cell = out.results.cells[0]
    assert cell.task == "sums" and cell.n_test == 180
    assert cell.ceiling_acc > cell.weak_acc
    assert cell.specs["task_source"]["sha256"]


def test_a_gap_within_noise_is_flagged_and_warned_not_dropped(tmp_path: Path) -> None:
    # gold labels as the "weak" supervisor: it beats the ceiling, so PGR means nothing
    cfg = config(weak=["gold"], elicitors=["probe"], seeds=[0, 1])
    out = run(cfg, runs_root=tmp_path / "r", store=ArtifactStore(tmp_path / "s"), progress=False)
    assert len(out.results.cells) == 2 and len(out.results.groups) == 1
    assert all(c.weak_acc == 1.0 and "small_gap" in c.flags for c in out.results.cells)
    assert "small_gap" in out.results.groups[0].flags
    [warning] = [w for w in out.results.warnings if "PGR is not meaningful" in w]
    assert "at least as accurate as the ceiling" in warning
    assert "PGR is not meaningful" in (out.run_dir / "report.md").read_text()
