"""The real embedded models, end to end, on a small cities config."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandwich.cli import main
from sandwich.runs import load_results, parse_config, run
from sandwich.store import ArtifactStore

pytestmark = pytest.mark.integration


def test_gemma_gold_probe_beats_minilm_on_cities(
    shared_store: ArtifactStore, tmp_path: Path
) -> None:
    cfg = parse_config(
        {
            "name": "it",
            "tasks": [{"name": "cities", "n_items": 800}],
            "weak": ["minilm-l6"],
            "strong": ["minilm-l6", "gemma3-270m"],
            "elicitors": ["probe", "probe-logconf"],
            "seeds": [0],
            "bootstrap": {"n_boot": 300},
        }
    )
    out = run(cfg, runs_root=tmp_path, store=shared_store, progress=False)
    by = {(c.strong, c.elicitor): c for c in out.results.cells}
    gemma, minilm = by[("gemma3-270m", "probe")], by[("minilm-l6", "probe")]
    assert gemma.n_test == 240
    # the ladder is real: the strong model's gold-trained probe beats the small encoder's
    assert gemma.ceiling_acc > minilm.ceiling_acc + 0.03, (gemma.ceiling_acc, minilm.ceiling_acc)
    assert gemma.ceiling_acc > 0.8
    # weak supervision of gemma by minilm recovers part of the gap, within a sane range
    assert gemma.gap > 0.03
    assert -0.5 < gemma.pgr < 1.5
    assert gemma.pgr_ci[0] <= gemma.pgr <= gemma.pgr_ci[1]
    assert (out.run_dir / "report.html").stat().st_size > 10_000  # plots embedded


def test_cli_run_on_smollm_reuses_the_store(
    shared_store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDWICH_HOME", str(shared_store.root))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "name: smol\n"
        "tasks: [{name: capitals, n_items: 300}]\n"
        "weak: [smollm2-135m]\nstrong: [gemma3-270m]\nelicitors: [probe]\nseeds: [0]\n"
        "bootstrap: {n_boot: 200}\n"
    )
    assert main(["run", str(cfg), "--runs", str(tmp_path / "runs"), "-q"]) == 0
    results = load_results(next((tmp_path / "runs").iterdir()))
    cell = results.cells[0]
    assert cell.weak == "smollm2-135m" and cell.strong == "gemma3-270m"
    assert "small_test" in cell.flags  # 90 test items: warned, not hidden
    assert 0.4 < cell.weak_acc <= 1.0 and 0.4 < cell.ceiling_acc <= 1.0
