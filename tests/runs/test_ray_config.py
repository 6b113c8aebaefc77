"""The executor setting without a Ray cluster: parsing, shorthand and errors, the run's
identity (the same run id and results on any executor), the resources a cell asks for,
what a worker is shipped and holds, and the cells streamed into the run directory."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandwich.cli import main
from sandwich.errors import ConfigError
from sandwich.runs import parse_config, plan_cells
from sandwich.runs.config import RUNTIME_FIELDS, ExecutorConfig
from sandwich.runs.executor import CellJob, LocalExecutor
from sandwich.runs.kinds import kind_of, stage_resources
from sandwich.runs.plan import Cell
from sandwich.runs.ray_executor import RayExecutor, run_shipped, task_options
from sandwich.runs.runner import cell_file, executor_for, run, run_id_for
from sandwich.store import ArtifactStore
from sandwich.tasks import Task
from sandwich.tasks.config import TaskConfig

BASE: dict[str, Any] = {
    "name": "x",
    "task": {"name": "arithmetic", "n_items": 300},
    "seeds": [0, 1],
    "weak": ["fake-weak"],
    "strong": ["fake-strong"],
    "bootstrap": {"n_boot": 100},
}


def test_executor_defaults_to_local_and_a_name_is_shorthand() -> None:
    assert parse_config(BASE).executor == ExecutorConfig(name="local")
    ray = parse_config({**BASE, "executor": "ray"}).executor
    assert ray.name == "ray" and ray.address is None and ray.max_retries == 3
    finetune = {"finetune": {"GPU": 1, "CPU": 4}}
    executor = {"name": "ray", "address": "ray://head:10001", "resources": finetune}
    full = parse_config({**BASE, "executor": executor})
    assert full.executor.resources == {"finetune": {"GPU": 1.0, "CPU": 4.0}}


@pytest.mark.parametrize(
    ("executor", "expected"),
    [
        ("slurm", ["executor.name:", "'local' or 'ray'"]),
        ({"name": "ray", "address": "nowhere"}, ["executor.address:", "'auto', 'host:port'"]),
        ({"name": "ray", "resources": {"probes": {"CPU": 1}}}, ["'probes' is not a stage class"]),
        ({"name": "ray", "resources": {"probe": {"CPU": -1}}}, ["probe.CPU: must be >= 0"]),
        ({"name": "ray", "max_retries": -1}, ["executor.max_retries:", "-1"]),
        ({"name": "local", "address": "auto"}, ["executor:", "are for name: ray"]),
        ({"name": "ray", "adress": "auto"}, ["executor.adress: unknown field"]),
    ],
)
def test_bad_executor_settings_name_the_field(executor: Any, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "executor": executor})
    for text in expected:
        assert text in str(info.value)


def test_the_run_identity_leaves_the_executor_out() -> None:
    local = parse_config(BASE)
    on_ray = parse_config({**BASE, "executor": {"name": "ray", "address": "auto"}})
    assert "executor" in RUNTIME_FIELDS
    assert on_ray.document()["executor"]["address"] == "auto"  # config.yaml records it
    assert "executor" not in on_ray.identity()
    assert on_ray.identity() == local.identity()
    assert run_id_for(on_ray) == run_id_for(local)
    assert run_id_for(parse_config({**BASE, "seeds": [0]})) != run_id_for(local)
    assert on_ray.with_executor("local").executor == ExecutorConfig()
    assert on_ray.with_executor("ray") is on_ray


def test_executor_for_builds_the_named_executor() -> None:
    assert isinstance(executor_for(ExecutorConfig()), LocalExecutor)
    assert isinstance(executor_for(ExecutorConfig(name="ray")), RayExecutor)


def test_a_cell_asks_for_the_resources_of_its_stage() -> None:
    cfg = parse_config({**BASE, "elicitors": ["probe", "finetune"], "seeds": [0]})
    probe, finetune = (c for c in plan_cells(cfg) if c.elicitor.name in ("probe", "finetune"))
    w2s = kind_of("w2s")
    assert w2s.resources(cfg, probe) == {"CPU": 1.0}
    assert w2s.resources(cfg, finetune) == {"CPU": 1.0}
    probe_res = {"probe": {"CPU": 2, "memory": 2e9}}
    executor = {"name": "ray", "use_gpu": True, "resources": probe_res}
    gpu = parse_config({**BASE, "elicitors": ["probe", "finetune"], "seeds": [0],
                        "executor": executor})  # fmt: skip
    assert w2s.resources(gpu, finetune) == {"CPU": 1.0, "GPU": 1.0}
    assert stage_resources(gpu, "features") == {"CPU": 1.0, "GPU": 1.0}
    assert stage_resources(cfg, "features") == {"CPU": 1.0}
    assert w2s.resources(gpu, probe) == {"CPU": 2.0, "memory": 2e9}
    protocol = parse_config({**BASE, "weak": [], "strong": [], "protocols": ["naive"],
                             "judge": {"backend": "fake", "model": "j"},
                             "executor": {"name": "ray", "use_gpu": True}})  # fmt: skip
    cell = plan_cells(protocol)[0]
    assert kind_of("protocol").resources(protocol, cell) == {"CPU": 1.0, "GPU": 1.0}
    opts = task_options({"CPU": 2, "GPU": 0.5, "memory": 1e9, "TPU": 1}, max_retries=2)
    assert opts == {"num_cpus": 2, "num_gpus": 0.5, "memory": 1e9, "resources": {"TPU": 1},
                    "max_retries": 2, "retry_exceptions": False}  # fmt: skip


def _job(store_root: str, **kw: Any) -> CellJob:
    return CellJob(config=parse_config(BASE).document(), store_root=store_root,
                   local=lambda c: None, **kw)  # fmt: skip


def test_ray_refuses_a_relative_store_and_python_generators() -> None:
    ex = RayExecutor(ExecutorConfig(name="ray"))
    with pytest.raises(ConfigError, match=r"relative path.*absolute path on a filesystem every"):
        list(ex.run(_job("cache/sandwich"), []))
    with pytest.raises(ConfigError, match="SANDWICH_HOME 'rel' is a relative path"):
        list(ex.run(_job("/abs", home="rel"), []))
    with pytest.raises(ConfigError, match="cannot be shipped"):
        list(ex.run(_job("/abs", has_generators=True), []))


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'sandwich\[ray\]'"):
        list(RayExecutor(ExecutorConfig(name="ray")).run(_job("/abs"), []))


def test_importing_sandwich_runs_does_not_import_ray() -> None:
    import subprocess

    code = "import sandwich.runs, sandwich.runs.runner, sys; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_worker_loads_only_its_cells_task_and_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a Ray task is given (config document, cell, store root) is enough to run the
    cell, and the worker reads only the cell's task and makes only its seed's split."""
    two_tasks = {k: v for k, v in BASE.items() if k != "task"}
    two_tasks["tasks"] = [{"name": "arithmetic", "n_items": 300}, {"name": "capitals"}]
    cfg = parse_config(two_tasks)
    store = ArtifactStore(tmp_path / "s")
    reference = run(cfg, runs_root=tmp_path / "r", store=store, progress=False)
    loaded: list[str] = []
    split: list[tuple[str, int]] = []
    load, split_fn = TaskConfig.load, Task.split

    def spy_load(self: TaskConfig) -> Task:
        loaded.append(self.label)
        return load(self)

    def spy_split(self: Task, seed: int, *args: Any, **kw: Any) -> Any:
        split.append((self.name, seed))
        return split_fn(self, seed, *args, **kw)

    monkeypatch.setattr(TaskConfig, "load", spy_load)
    monkeypatch.setattr(Task, "split", spy_split)
    cells = plan_cells(cfg)
    i = next(i for i, c in enumerate(cells) if c.task.name == "capitals" and c.seed == 1)
    shipped = (cfg.document(), cells[i].model_dump(mode="json"), str(store.root))
    assert json.loads(json.dumps(shipped)) == list(shipped), "plain JSON data, no arrays"
    monkeypatch.setenv("SANDWICH_HOME", "/elsewhere")  # a worker's own, restored after
    outcome = run_shipped(*shipped, home=str(tmp_path / "home"))
    assert os.environ["SANDWICH_HOME"] == str(tmp_path / "home"), "the driver's, for caches"
    assert loaded == ["capitals"] and split == [("capitals", 1)]
    got = outcome.result.model_dump(exclude={"seconds"})
    assert got == reference.results.cells[i].model_dump(exclude={"seconds"})


def test_each_cell_lands_in_the_run_directory_as_it_finishes(tmp_path: Path) -> None:
    cfg = parse_config(BASE)

    class DiesAfterOne(LocalExecutor):
        def map(self, fn: Callable[[Cell], Any], cells: Sequence[Cell]) -> Iterator[Any]:
            yield fn(cells[0])
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        run(cfg, runs_root=tmp_path / "r", executor=DiesAfterOne(False), progress=False)
    (run_dir,) = (tmp_path / "r").iterdir()
    assert [p.name for p in (run_dir / "cells").iterdir()] == ["00000.json"]

    class Backwards(LocalExecutor):  # lands cells last to first, as a cluster may
        def run(self, job: CellJob, cells: Sequence[Cell]) -> Iterator[tuple[int, Any]]:
            for i in reversed(range(len(cells))):
                yield i, job.local(cells[i])

    out = run(cfg, runs_root=tmp_path / "r", executor=Backwards(False), progress=False)
    files = sorted((out.run_dir / "cells").glob("*.json"))
    assert len(files) == len(out.results.cells) == 2
    for i, cell in enumerate(out.results.cells):
        doc = json.loads(cell_file(out.run_dir, i).read_text())
        assert doc["index"] == i and doc["cell"]["seed"] == cell.seed
        assert doc["outcome"] == cell.model_dump(mode="json")
    assert [c.seed for c in out.results.cells] == [0, 1], "results stay in cell order"


def test_sandwich_run_executor_option_overrides_the_config(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    executor = {"name": "ray", "address": "auto"}
    path.write_text(yaml.safe_dump({**BASE, "seeds": [0], "executor": executor}))
    runs = tmp_path / "runs"
    assert main(["run", str(path), "--runs", str(runs), "-q", "--executor", "bogus"]) == 2
    assert main(["run", str(path), "--runs", str(runs), "-q", "--executor", "local"]) == 0
    (run_dir,) = runs.iterdir()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["executor"]["name"] == "local"
    assert run_dir.name == run_id_for(parse_config({**BASE, "seeds": [0]}))
