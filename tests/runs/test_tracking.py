"""Experiment tracking: a run logged to MLflow (the local SQLite store) or W&B (offline)
reads back, through each tracker's own API or files, with the numbers of its
results.json; a rerun updates the same tracker runs; tracking off imports neither
package and a missing extra fails before anything runs."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandwich.errors import ConfigError
from sandwich.runs import parse_config, run
from sandwich.runs.runner import run_id_for
from sandwich.runs.tracking.mlflow_tracker import default_uri
from sandwich.store import ArtifactStore

SRC = Path(__file__).parents[2] / "src"
CONFIG: dict[str, Any] = {
    "name": "tracked",
    "task": {"name": "arithmetic", "n_items": 300},
    "seeds": [0, 1],
    "bootstrap": {"n_boot": 100},
    "weak": ["fake-weak"],
    "strong": ["fake-strong"],
    # a protocol too: its rows have optional intervals (null) and nested params
    "protocols": ["naive", "consultancy"],
    "judge": {"backend": "fake", "model": "judge"},
    "assistant": {"backend": "fake", "model": "helper"},
    "max_items": 12,
}
PROTOCOL_FIELDS = ("protocols", "judge", "assistant", "max_items")
IDENTIFYING = ("kind", "task", "weak", "strong", "elicitor", "protocol", "name", "seed", "seeds")


def _numbers(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of a results.json record as the tracker should show them: each
    number by its field name, each interval as ``<field>_low`` / ``<field>_high``."""
    out: dict[str, float] = {}
    for field, v in record.items():
        if field in ("seed", "seeds") or isinstance(v, bool):
            continue
        if isinstance(v, int | float):
            out[field] = float(v)
        elif field.endswith("_ci") and isinstance(v, list):
            out.update(
                {
                    f"{field}_{b}": x
                    for b, x in zip(("low", "high"), v, strict=True)
                    if x is not None
                }
            )
        elif isinstance(v, dict) and field == "methods":
            out.update({f"methods.{k}": float(x) for k, x in v.items()})
    return out


def _ident(fields: dict[str, Any]) -> tuple[str, ...]:
    """A record's names and seed(s) as text, from results.json or from tracker params."""
    return tuple(
        f if isinstance(f, str) else json.dumps(f)
        for f in (fields.get(k) for k in IDENTIFYING)
        if f is not None
    )


def _records(run_dir: Path) -> list[dict[str, Any]]:
    data = json.loads((run_dir / "results.json").read_text())
    return data["cells"] + data["groups"]


# ---------------------------------------------------------------------- config


def test_tracking_shorthand_defaults_and_run_identity() -> None:
    plain = parse_config({k: v for k, v in CONFIG.items()})
    tracked = parse_config({**CONFIG, "tracking": "mlflow"})
    assert plain.tracking.name == "none" and tracked.tracking.name == "mlflow"
    assert tracked.tracking.uri is None and tracked.tracking.experiment is None
    # tracking is how a run is recorded, not what it computes: same run dir
    assert run_id_for(plain) == run_id_for(tracked)
    assert "tracking" not in tracked.identity() and tracked.document()["tracking"]["name"] == (
        "mlflow"
    )
    assert parse_config({**CONFIG, "tracking": None}).tracking.name == "none"


@pytest.mark.parametrize(
    ("tracking", "message"),
    [
        ("mlfow", "tracking.name: Input should be 'none', 'mlflow' or 'wandb'"),
        ({"name": "wandb", "uri": "sqlite:///x.db"}, "uri is a setting of mlflow, not of 'wandb'"),
        ({"name": "mlflow", "mode": "offline"}, "mode is a setting of wandb, not of 'mlflow'"),
        ({"name": "mlflow", "experiments": "x"}, "tracking.experiments"),
    ],
)
def test_bad_tracking_config_names_the_field(tracking: Any, message: str) -> None:
    with pytest.raises(ConfigError, match="tracking") as err:
        parse_config({**CONFIG, "tracking": tracking})
    assert message in str(err.value)


# ---------------------------------------------------------------------- MLflow


@pytest.fixture(scope="module")
def mlflow_logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(runs root, run dir) of the config run once with ``tracking: mlflow``."""
    root = tmp_path_factory.mktemp("runs")
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    out = run(parse_config({**CONFIG, "tracking": "mlflow"}), runs_root=root, store=store,
              progress=False)  # fmt: skip
    return root, out.run_dir


def _mlflow_runs(root: Path) -> tuple[Any, list[Any]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(default_uri(root))
    exp = client.get_experiment_by_name("tracked")
    return client, client.search_runs([exp.experiment_id], max_results=1000)


def test_mlflow_run_reads_back_with_the_numbers_of_results_json(
    mlflow_logged: tuple[Path, Path],
) -> None:
    root, run_dir = mlflow_logged
    assert (root / "mlflow.db").is_file()  # the embedded default: next to the runs
    client, runs = _mlflow_runs(root)
    (parent,) = [r for r in runs if r.data.tags.get("sandwich.record") == "run"]
    assert parent.info.run_name == run_dir.name and parent.info.status == "FINISHED"
    assert parent.data.tags["sandwich.run_id"] == run_dir.name
    assert parent.data.tags["sandwich.version"] and len(parent.data.tags["sandwich.config_hash"])
    assert run_dir.name.endswith(parent.data.tags["sandwich.config_hash"][:8])
    assert parent.data.params["tasks.0.name"] == "arithmetic"
    assert parent.data.params["strong"] == '["fake-strong"]'
    assert "tracking.name" not in parent.data.params  # runtime, not part of the experiment

    records = _records(run_dir)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(runs) - 1 == len(records)
    assert {r.data.tags["sandwich.kind"] for r in children} == {"w2s", "protocol"}
    by_ident = {_ident(r.data.params | {"kind": r.data.tags["sandwich.kind"]}): r for r in children}
    assert len(by_ident) == len(records)
    for record in records:
        logged = by_ident[_ident(record)]
        assert set(logged.data.metrics) == set(_numbers(record)), (record, logged.data.metrics)
        assert logged.data.metrics == pytest.approx(_numbers(record), rel=0, abs=0)
        assert logged.info.status == "FINISHED"
    w2s = next(r for r in records if r["kind"] == "w2s" and "seed" in r)
    params = by_ident[_ident(w2s)].data.params
    assert params["specs.resolved.weak.params.model"] == "fake-weak"  # resolved params
    assert params["specs.resolved.elicitor.params.max_iter"] == "500"  # a default, filled in

    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"results.json", "config.yaml", "report.md", "report.html", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {f"plots/{p.name}" for p in (run_dir / "plots").glob("*.png")} != set()
    local = client.download_artifacts(parent.info.run_id, "results.json", str(root / "dl"))
    assert Path(local).read_bytes() == (run_dir / "results.json").read_bytes()


def test_mlflow_rerun_updates_the_same_runs(
    mlflow_logged: tuple[Path, Path], tmp_path: Path
) -> None:
    root, run_dir = mlflow_logged
    _, before = _mlflow_runs(root)
    out = run(parse_config({**CONFIG, "tracking": "mlflow"}), runs_root=root,
              store=ArtifactStore(tmp_path / "store"), progress=False)  # fmt: skip
    assert out.run_dir == run_dir
    _, after = _mlflow_runs(root)
    assert sorted(r.info.run_id for r in after) == sorted(r.info.run_id for r in before)
    (parent,) = [r for r in after if r.data.tags.get("sandwich.record") == "run"]
    assert parent.data.metrics["n_cells"] == len(out.results.cells)
    # updated: each run's metrics are the new results.json's (its wall times differ) ...
    by_ident = {_ident(r.data.params | {"kind": r.data.tags["sandwich.kind"]}): r for r in after
                if r.info.run_id != parent.info.run_id}  # fmt: skip
    for record in _records(run_dir):
        assert by_ident[_ident(record)].data.metrics == pytest.approx(_numbers(record), abs=0)
    # ... and a run keeps the duration of its first logging
    assert {r.info.run_id: r.info.end_time for r in after} == {
        r.info.run_id: r.info.end_time for r in before
    }


def test_mlflow_rerun_keeps_a_logged_param_and_tags_the_change(
    mlflow_logged: tuple[Path, Path],
) -> None:
    """MLflow never changes a param: a differing value (a new sandwich version resolving a
    default differently) keeps the logged one, and the run says which params differ."""
    from sandwich.runs.tracking.mlflow_tracker import _log

    root, _ = mlflow_logged
    client, _ = _mlflow_runs(root)
    scratch = client.create_run(client.create_experiment("scratch"))
    _log(client, scratch, {"seed": "0"}, {"accuracy": 0.25}, {})
    logged = client.get_run(scratch.info.run_id)  # as a rerun finds it
    _log(client, logged, {"seed": "1", "new_param": "x"}, {"accuracy": 0.5}, {})
    again = client.get_run(scratch.info.run_id).data
    assert again.params == {"seed": "0", "new_param": "x"}
    assert again.tags["sandwich.params_changed"] == "seed"
    assert again.metrics["accuracy"] == 0.5  # metrics: the latest value


def test_reliability_bins_are_plot_data_not_metrics() -> None:
    """A cell's reliability-diagram bins are drawn by the report; a tracker logs neither
    their numbers (dozens of ``student_reliability.3.n`` metrics) nor them as params."""
    from sandwich.runs.tracking.records import split_record

    bins = [{"low": 0.0, "high": 0.5, "confidence": 0.3, "accuracy": 0.25, "n": 8}]
    params, metrics = split_record(
        {"kind": "w2s", "task": "t", "student_acc": 0.75, "student_acc_ci": [0.6, 0.9],
         "student_reliability": bins, "weak_reliability": bins, "reliability": bins}
    )  # fmt: skip
    assert metrics == {"student_acc": 0.75, "student_acc_ci_low": 0.6, "student_acc_ci_high": 0.9}
    assert params == {"task": "t"}


def test_mlflow_bad_uri_fails_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    uri = f"sqlite:///{tmp_path / 'file' / 'mlflow.db'}"
    config = parse_config({**CONFIG, "tracking": {"name": "mlflow", "uri": uri}})
    with pytest.raises(ConfigError, match=f"tracking: cannot use MLflow at {uri}"):
        run(config, runs_root=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists()


def test_mlflow_failed_logging_says_the_results_are_safe(
    mlflow_logged: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    from sandwich.runs.tracking import TrackingError

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("tracking server down")

    root, _ = mlflow_logged
    monkeypatch.setattr(MlflowClient, "create_run", down)
    config = parse_config({**CONFIG, "name": "failing", "tracking": "mlflow"})
    with pytest.raises(TrackingError) as err:
        run(config, runs_root=root, store=ArtifactStore(tmp_path / "store"), progress=False)
    run_dir = root / run_id_for(config)
    assert "ConnectionError: tracking server down" in str(err.value)
    assert f"The results and report are in {run_dir}" in str(err.value)
    assert (run_dir / "results.json").is_file() and (run_dir / "report.html").is_file()


def _free_port() -> int:
    from sandwich.feedback.web.server import free_port

    return free_port()


@pytest.fixture
def mlflow_server(mlflow_logged: tuple[Path, Path], tmp_path: Path) -> Iterator[str]:
    """MLflow's own tracking server and UI on the logged store, on 127.0.0.1."""
    root, _ = mlflow_logged
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", default_uri(root),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, 15)  # the server and its uvicorn worker
        proc.wait(timeout=30)
        log.close()


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


@pytest.mark.integration
def test_mlflow_ui_server_serves_the_logged_run(
    mlflow_logged: tuple[Path, Path], mlflow_server: str
) -> None:
    _, run_dir = mlflow_logged
    with urllib.request.urlopen(mlflow_server, timeout=30) as r:  # the UI's page
        assert r.status == 200 and b"<!doctype html>" in r.read().lower()
    exp = _get(f"{mlflow_server}/api/2.0/mlflow/experiments/get-by-name?experiment_name=tracked")
    query = f"tags.`sandwich.run_id` = '{run_dir.name}'"
    search = {"experiment_ids": [exp["experiment"]["experiment_id"]], "filter": query}
    runs = _post(f"{mlflow_server}/api/2.0/mlflow/runs/search", search)["runs"]
    assert len(runs) == 1 + len(_records(run_dir))
    (parent,) = [r for r in runs if r["info"]["run_name"] == run_dir.name]
    run_id = parent["info"]["run_id"]
    listed = _get(f"{mlflow_server}/api/2.0/mlflow/artifacts/list?run_id={run_id}")
    assert {"results.json", "report.html"} <= {f["path"] for f in listed["files"]}
    by_ident = {}
    for r in runs:
        tags = {t["key"]: t["value"] for t in r["data"]["tags"]}
        params = {p["key"]: p["value"] for p in r["data"]["params"]}
        if tags.get("sandwich.record") in ("cell", "group"):
            by_ident[_ident(params | {"kind": tags["sandwich.kind"]})] = r
    for record in _records(run_dir):
        metrics = {m["key"]: m["value"] for m in by_ident[_ident(record)]["data"]["metrics"]}
        assert metrics == pytest.approx(_numbers(record), rel=0, abs=0)


# ---------------------------------------------------------------------- W&B offline


def wandb_records(path: Path) -> Iterator[Any]:
    """The records of an offline run's ``run-<id>.wandb`` file, the one ``wandb sync``
    uploads: W&B's LevelDB-style log (32 KiB blocks; each chunk a 7-byte header of
    CRC, length and type: 1 full, 2 first, 3 middle, 4 last) of its protobuf Records."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block, pos, chunk = path.read_bytes(), 32768, 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # the rest of a block too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(chunk)
            chunk = b""
            yield record


def _closed(log: Path) -> bool:
    try:
        return any(r.HasField("exit") for r in wandb_records(log))
    except Exception:  # a record cut where the writer's buffer ended: not flushed yet
        return False


def _flushed_logs(run_dir: Path, timeout: float = 60) -> list[Path]:
    """The offline runs' log files once each ends with its exit record: W&B's service
    process writes them behind ``run.finish()`` and closes them a moment later."""
    logs = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    deadline = time.monotonic() + timeout
    while not all(_closed(p) for p in logs):
        if time.monotonic() > deadline:
            raise AssertionError(f"W&B offline logs not closed within {timeout} s: {logs}")
        time.sleep(0.2)
    return logs


def _offline_run(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Per W&B run id: its group, job type, config, last summary and artifact files."""
    runs: dict[str, dict[str, Any]] = {}
    for log in _flushed_logs(run_dir):
        out: dict[str, Any] = {"summary": {}, "artifacts": []}
        for r in wandb_records(log):
            what = r.WhichOneof("record_type")
            if what == "run":
                out |= {"id": r.run.run_id, "group": r.run.run_group, "job": r.run.job_type,
                        "name": r.run.display_name, "tags": list(r.run.tags),
                        "config": {u.key: json.loads(u.value_json) for u in r.run.config.update
                                   if u.key != "_wandb"}}  # fmt: skip
            elif what == "summary":
                out["summary"] |= {
                    u.key: json.loads(u.value_json) for u in r.summary.update if u.key
                }
            elif what == "artifact":
                out["artifacts"] += [
                    (r.artifact.type, [c.path for c in r.artifact.manifest.contents])
                ]
        runs.setdefault(out["id"], out)  # one W&B run, however often it was logged
    return runs


def test_wandb_offline_run_reads_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    # w2s only: W&B opens one run per record, each about a second (the mapping of
    # protocol rows is the same code, read back through MLflow above)
    w2s = {k: v for k, v in CONFIG.items() if k not in PROTOCOL_FIELDS}
    config = parse_config({**w2s, "tracking": {"name": "wandb", "mode": "offline"}})
    out = run(config, runs_root=tmp_path, progress=False)
    logged = _offline_run(out.run_dir)
    records = _records(out.run_dir)
    assert len(logged) == 1 + len(records)
    assert {r["group"] for r in logged.values()} == {out.run_dir.name}
    (parent,) = [r for r in logged.values() if r["job"] == "run"]
    assert parent["config"]["tasks.0.name"] == "arithmetic"
    assert parent["summary"]["n_cells"] == len(out.results.cells)
    ((kind, files),) = parent["artifacts"]
    assert kind == "sandwich-report"
    assert {"results.json", "config.yaml", "report.md", "report.html"} <= set(files)
    assert any(f.startswith("plots/") for f in files)
    by_ident = {_ident(r["config"] | {"kind": r["tags"][0]}): r for r in logged.values()
                if r["job"] != "run"}  # fmt: skip
    assert len(by_ident) == len(records)
    for record in records:
        got = by_ident[_ident(record)]["summary"]
        want = _numbers(record)
        assert {k: got[k] for k in want} == pytest.approx(want, rel=0, abs=0)

    # a rerun logs to the same W&B run ids (wandb sync resumes them), no new runs
    run(config, runs_root=tmp_path, progress=False)
    logs = list((out.run_dir / "wandb").glob("offline-run-*"))
    assert len(logs) == 2 * len(logged)
    assert set(_offline_run(out.run_dir)) == set(logged)


# ---------------------------------------------------------------------- off and missing


def test_tracking_off_imports_neither_tracker(tmp_path: Path) -> None:
    """``import sandwich`` and ``sandwich run`` without tracking never import mlflow or wandb,
    and write no tracker files."""
    (tmp_path / "c.yaml").write_text(json.dumps({k: v for k, v in CONFIG.items()}))
    code = (
        "import sys, sandwich\n"
        "from sandwich.cli import main\n"
        f"code = main(['run', {str(tmp_path / 'c.yaml')!r}, '--runs', {str(tmp_path / 'runs')!r},"
        " '-q'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'wandb'))\n"
        "print(code, loaded)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "SANDWICH_HOME": str(tmp_path / "home"),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "results.json").is_file()
    assert not (tmp_path / "runs" / "mlflow.db").exists() and not (run_dir / "wandb").exists()


@pytest.mark.parametrize("tracker", ["mlflow", "wandb"])
def test_missing_extra_fails_before_anything_runs(
    tracker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, tracker, None)  # as if not installed: import fails
    with pytest.raises(ConfigError) as err:
        run(parse_config({**CONFIG, "tracking": tracker}), runs_root=tmp_path, progress=False)
    assert f"tracking: {tracker} needs the `tracking` extra" in str(err.value)
    assert "pip install 'sandwich[tracking]'" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing computed
