from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sandwich.cli import main

FAKE = {
    "name": "cli",
    "tasks": [{"name": "arithmetic", "n_items": 600}],
    "weak": ["fake-weak"],
    "strong": ["fake-strong"],
    "elicitors": ["probe"],
    "seeds": [0],
    "bootstrap": {"n_boot": 200},
}


def write(tmp_path: Path, data: object, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_run_prints_table_and_report_rerenders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write(tmp_path, FAKE)
    assert main(["run", str(cfg), "--runs", str(tmp_path / "runs"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "fake-weak" in out and "PGR" in out
    run_dir = next((tmp_path / "runs").iterdir())
    (run_dir / "report.md").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.md").is_file()
    assert json.loads((run_dir / "results.json").read_text())["run_id"] == run_dir.name


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tasks: [cities\n", "malformed YAML"),
        (yaml.safe_dump({**FAKE, "strong": ["fake-strnog"]}), "Did you mean 'fake-strong'"),
        (yaml.safe_dump({**FAKE, "features": {"dtype": "float16"}}), "features.dtype"),
    ],
)
def test_bad_config_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    code = main(["run", str(cfg), "--runs", str(tmp_path / "runs")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "configs/demo.yaml", "--out", "x"], "No such option: --out"),
        (["run"], "Missing argument"),
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
    ],
)
def test_a_usage_error_prints_usage_and_exits_2_without_a_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Usage: sandwich" in err and "Traceback" not in err


def test_report_on_a_non_run_directory_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "names"),
    [
        ("models", ["minilm-l6", "smollm2-135m", "gemma3-270m", "fake-strong"]),
        ("tasks", ["cities", "capitals", "arithmetic"]),
        ("elicitors", ["probe", "probe-logconf"]),
        ("supervisors", ["gold", "weak-model", "nonexpert"]),
    ],
)
def test_listings(command: str, names: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command]) == 0
    out = capsys.readouterr().out
    for n in names:
        assert n in out


def test_bad_task_parameter_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write(tmp_path, {**FAKE, "tasks": [{"name": "capitals", "n_items": 5000}]})
    assert main(["run", str(cfg), "--runs", str(tmp_path / "runs")]) == 2
    assert "capitals" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_params_prints_the_parameter_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["elicitors", "--params", "finetune"]) == 0
    out = capsys.readouterr().out
    assert "loss_params" in out and "'lora' | 'full' | 'top'" in out and "'auto'" in out
    assert main(["protocols", "list", "--params", "debate"]) == 0
    assert "'simultaneous' | 'sequential'" in capsys.readouterr().out
    for command, name in (("losses", "logconf"), ("backends", "openai")):
        assert main([command]) == 0 and name in capsys.readouterr().out
    assert main(["tasks", "--params", "citys"]) != 0
    assert "Did you mean 'cities'" in capsys.readouterr().err
