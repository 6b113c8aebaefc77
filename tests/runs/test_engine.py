"""One engine for every experiment kind: a w2s config, a protocol config and a config
mixing both run through the same ``sandwich run``, resume through the artifact store,
and produce one results.json and one report; results files of the former engines
(w2s schema 1, protocol results) still load and render."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandwich.cli import main
from sandwich.runs import KINDS, load_results, parse_config, plan_cells
from sandwich.store import default_home

FIXTURES = Path(__file__).parents[1] / "fixtures" / "results_v1"
W2S: dict[str, Any] = {
    "weak": ["fake-weak"],
    "strong": ["fake-strong"],
    "elicitors": ["probe"],
}
PROTOCOL: dict[str, Any] = {
    "protocols": ["naive", "consultancy"],
    "judge": {"backend": "fake", "model": "judge"},
    "assistant": {"backend": "fake", "model": "helper"},
    "max_items": 20,
}
SHARED: dict[str, Any] = {
    "task": {"name": "arithmetic", "n_items": 300},
    "seeds": [0, 1],
    "bootstrap": {"n_boot": 100},
}
CONFIGS = {
    "w2s": {"name": "w", **SHARED, **W2S},
    "protocol": {"name": "p", **SHARED, **PROTOCOL},
    "mixed": {"name": "m", **SHARED, **W2S, **PROTOCOL},
}
SECTIONS = {"w2s": "## PGR per group", "protocol": "## Judge accuracy"}


def _numbers(cells: Sequence[Any]) -> list[dict[str, Any]]:
    """Cells without their wall time."""
    return [c.model_dump(exclude={"seconds"}) for c in cells]


def _artifacts() -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (default_home() / "artifacts").glob("*/*/*")}


def _refuse_generators(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(spec: object) -> None:
        raise AssertionError("a complete run must not build a generator")

    monkeypatch.setattr("sandwich.runs.protocol.build_generator", refuse)


@pytest.mark.parametrize("which", ["w2s", "protocol", "mixed"])
def test_every_kind_runs_resumes_and_reports_through_sandwich_run(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{which}.yaml"
    path.write_text(yaml.safe_dump(CONFIGS[which]))
    runs = tmp_path / "runs"
    assert main(["run", str(path), "--runs", str(runs), "-q"]) == 0
    (run_dir,) = runs.iterdir()
    kinds = ["w2s", "protocol"] if which == "mixed" else [which]
    res = load_results(run_dir)
    assert res.schema_version == 2 and res.kinds == kinds
    assert [c.kind for c in res.cells] == [c.kind for c in plan_cells(parse_config(res.config))]
    md = (run_dir / "report.md").read_text()
    assert md.count("# sandwich report:") == 1 and md.count("## Config") == 1
    for kind, heading in SECTIONS.items():
        assert (heading in md) == (kind in kinds)
    assert (run_dir / "transcripts").is_dir() == ("protocol" in kinds)
    printed = capsys.readouterr().out
    assert ("PGR per group" in printed) == ("w2s" in kinds)
    assert ("judge accuracy" in printed) == ("protocol" in kinds)

    # resume: the same config again computes nothing (every artifact reused, no model built)
    before = _artifacts()
    _refuse_generators(monkeypatch)
    assert main(["run", str(path), "--runs", str(runs), "-q"]) == 0
    assert _artifacts() == before
    again = load_results(run_dir)
    assert _numbers(again.cells) == _numbers(res.cells) and again.groups == res.groups

    frame = again.to_frame()
    assert len(frame) == len(again.cells) and list(frame["kind"]) == [c.kind for c in again.cells]
    if which == "mixed":  # one row per cell; each kind's columns are missing for the other
        w2s, protocol = frame[frame.kind == "w2s"], frame[frame.kind == "protocol"]
        assert w2s["pgr"].notna().any() and w2s["protocol"].isna().all()
        assert protocol["accuracy"].notna().all() and protocol["weak"].isna().all()
        assert set(protocol["protocol"]) == {"naive", "consultancy", "assistant-alone"}


def test_a_mixed_run_killed_midway_resumes_to_the_same_results(tmp_path: Path) -> None:
    from sandwich.runs import run
    from sandwich.runs.executor import LocalExecutor
    from sandwich.store import ArtifactStore

    class Crashing(LocalExecutor):
        def map(self, fn, cells):  # type: ignore[no-untyped-def]
            for i, cell in enumerate(cells):
                if i == len(cells) - 2:  # during the protocol cells
                    raise KeyboardInterrupt("killed")
                yield fn(cell)

    cfg = parse_config(CONFIGS["mixed"])
    store = ArtifactStore(tmp_path / "s")
    with pytest.raises(KeyboardInterrupt):
        run(cfg, runs_root=tmp_path / "r", store=store, executor=Crashing(False), progress=False)
    assert not list((tmp_path / "r").glob("*/results.json"))
    resumed = run(cfg, runs_root=tmp_path / "r", store=store, progress=False)
    whole = run(cfg, runs_root=tmp_path / "u", store=ArtifactStore(tmp_path / "s2"), progress=False)
    assert _numbers(resumed.results.cells) == _numbers(whole.results.cells)


def test_kinds_are_registered_lazily() -> None:
    assert KINDS.names()[:2] == ["w2s", "protocol"]  # registration order: the order kinds run
    assert "honesty" in KINDS.names() and "sandbagging" in KINDS.names()
    assert "truth" in KINDS.names()
    assert all(isinstance(s.impl, str) and isinstance(s.schema, str) for s in KINDS)


@pytest.mark.parametrize("kind", ["w2s", "protocol"])
def test_results_of_the_former_engines_load_and_render(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / kind
    shutil.copytree(FIXTURES / kind, run_dir)
    old = json.loads((run_dir / "results.json").read_text())
    res = load_results(run_dir)
    assert res.schema_version == 2 and res.kinds == [kind]
    assert main(["report", str(run_dir)]) == 0
    md = (run_dir / "report.md").read_text()
    assert SECTIONS[kind] in md and old["run_id"] in md
    if kind == "w2s":
        assert old["schema_version"] == 1
        assert [c.pgr for c in res.w2s_cells()] == [c["pgr"] for c in old["cells"]]
        assert "PGR per group" in capsys.readouterr().out
    else:
        assert "rows" in old and "cells" not in old
        rows = res.protocol_rows()
        assert [r.accuracy for r in rows] == [r["accuracy"] for r in old["rows"]]
        assert (
            all(r.task == "dossier" for r in rows) and res.config["tasks"][0]["name"] == "dossier"
        )
        assert "## Transcripts" in md and "### consultancy · item" in md
        assert res.models["judge"]["model"] == "judge"
        assert "judge accuracy" in capsys.readouterr().out


def test_the_former_small_gap_spelling_is_read_as_small_gap(tmp_path: Path) -> None:
    old = json.loads((FIXTURES / "protocol" / "results.json").read_text())
    old["rows"][1]["flags"] = ["small-gap"]
    (tmp_path / "results.json").write_text(json.dumps(old))
    assert load_results(tmp_path).protocol_rows()[1].flags == ["small_gap"]


def test_protocol_labels_are_not_read_as_terminal_markup(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from sandwich.report.protocol import rich_table

    shutil.copytree(FIXTURES / "protocol", tmp_path / "p")
    res = load_results(tmp_path / "p")
    res.cells[1].protocol = "[bold]evil[/bold]"  # type: ignore[union-attr]
    buf = io.StringIO()
    Console(file=buf, width=300, color_system=None).print(rich_table(res))
    assert "[bold]evil[/bold]" in buf.getvalue()
