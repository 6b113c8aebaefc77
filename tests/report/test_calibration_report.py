"""Reliability diagrams in the w2s and protocol reports: the bins stored per cell / row, their
pooling over seeds, the "Calibration" section and its PNGs; older results render without it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from sandwich.cli import main
from sandwich.metrics.calibration import bins_ece, ece, pool_bins, reliability_diagram
from sandwich.results import BinRecord, RunResults
from sandwich.runs import load_results, parse_config, run, write_report
from sandwich.store import ArtifactStore

FIXTURES = Path(__file__).parents[1] / "fixtures" / "results_v1"
PNG = b"\x89PNG\r\n\x1a\n"


def test_pooled_bins_are_the_diagram_of_all_items() -> None:
    rng = np.random.default_rng(3)
    p = [rng.uniform(0, 1, n) for n in (150, 230)]
    y = [(rng.random(len(q)) < q).astype(int) for q in p]
    pooled = pool_bins(reliability_diagram(yy, q) for yy, q in zip(y, p, strict=True))
    whole = reliability_diagram(np.concatenate(y), np.concatenate(p))
    assert [b.n for b in pooled] == [b.n for b in whole] and sum(b.n for b in pooled) == 380
    assert np.allclose([tuple(b) for b in pooled], [tuple(b) for b in whole])
    assert abs(bins_ece(pooled) - ece(np.concatenate(y), np.concatenate(p))) < 1e-12


def _w2s(tmp_path: Path) -> Path:
    cfg = parse_config({
        "name": "cal", "tasks": [{"name": "arithmetic", "n_items": 600}],
        "weak": ["fake-weak"], "strong": ["fake-strong"], "elicitors": ["probe"],
        "seeds": [0, 1], "bootstrap": {"n_boot": 100},
    })  # fmt: skip
    out = run(cfg, runs_root=tmp_path / "r", store=ArtifactStore(tmp_path / "s"), progress=False)
    return out.run_dir


def test_w2s_report_has_a_calibration_figure_pooling_the_seeds(tmp_path: Path) -> None:
    run_dir = _w2s(tmp_path)
    cells = load_results(run_dir).w2s_cells()
    for c in cells:
        for role in ("student", "ceiling", "weak"):
            bins = getattr(c, f"{role}_reliability")
            assert bins and sum(b.n for b in bins) == c.n_test, role
        # the stored bins are those behind the stored ECEs
        assert abs(bins_ece([b.bin() for b in c.student_reliability or []]) - c.student_ece) < 1e-9
        assert abs(bins_ece([b.bin() for b in c.weak_reliability or []]) - c.weak_ece) < 1e-9
    md = (run_dir / "report.md").read_text()
    assert "## Calibration" in md
    pngs = sorted((run_dir / "plots").glob("reliability-*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == PNG
    n = sum(c.n_test for c in cells)
    assert f"pooled over 2 seed(s), {n} items" in md
    assert "student ECE" in md and "ceiling ECE" in md and "weak ECE" in md
    assert pngs[0].name in md
    assert "data:image/png;base64" in (run_dir / "report.html").read_text()


def _rendered_without_calibration(tmp_path: Path, kind: str) -> str:
    run_dir = tmp_path / kind
    shutil.copytree(FIXTURES / kind, run_dir)
    assert main(["report", str(run_dir)]) == 0
    md = (run_dir / "report.md").read_text()
    assert "## Calibration" not in md
    assert not list(run_dir.glob("plots/*reliability*.png"))
    return md


def test_old_w2s_results_without_bins_render_without_the_section(tmp_path: Path) -> None:
    res = load_results(FIXTURES / "w2s")
    assert all(c.student_reliability is None for c in res.w2s_cells())
    assert "PGR per group" in _rendered_without_calibration(tmp_path, "w2s")


def test_old_protocol_results_without_bins_render_without_the_section(tmp_path: Path) -> None:
    res = load_results(FIXTURES / "protocol")
    assert all(r.reliability is None for r in res.protocol_rows())
    assert "Judge accuracy" in _rendered_without_calibration(tmp_path, "protocol")


PROTOCOL: dict[str, Any] = {
    "name": "cal", "task": {"name": "dossier", "n_items": 20, "seed": 1},
    "judge": {"backend": "fake", "model": "judge"},
    "assistant": {"backend": "fake", "model": "helper"},
    "protocols": ["naive", "consultancy"], "seeds": [0, 1], "bootstrap": {"n_boot": 100},
}  # fmt: skip


def test_protocol_report_has_a_calibration_figure_per_protocol(tmp_path: Path) -> None:
    out = run(parse_config(PROTOCOL), runs_root=tmp_path, progress=False)
    rows = load_results(out.run_dir).protocol_rows()
    for r in rows:
        assert r.reliability and sum(b.n for b in r.reliability) == r.n_scored
        assert r.ece is not None and abs(bins_ece([b.bin() for b in r.reliability]) - r.ece) < 1e-9
    md = (out.run_dir / "report.md").read_text()
    assert "## Calibration" in md
    protocols = list(dict.fromkeys(r.protocol for r in rows))
    pngs = sorted((out.run_dir / "plots").glob("protocol-reliability-*.png"))
    assert len(pngs) == len(protocols) >= 2
    assert all(p.read_bytes()[:8] == PNG and p.name in md for p in pngs)
    n = sum(r.n_scored for r in rows if r.protocol == "naive")
    assert f"pooled over 2 seed(s), {n} items; judge ECE" in md


def _with_bins(results: RunResults) -> RunResults:
    """``results`` with each cell's three roles binned from seeded predictions on 400 items."""
    rng = np.random.default_rng(0)
    cells = []
    for c in results.w2s_cells():
        update = {}
        for role in ("student", "ceiling", "weak"):
            p = rng.uniform(0, 1, c.n_test)
            y = (rng.random(c.n_test) < p).astype(int)
            update[f"{role}_reliability"] = BinRecord.of(reliability_diagram(y, p))
        cells.append(c.model_copy(update=update))
    return results.model_copy(update={"cells": cells})


def test_calibration_captions_escape_names_and_plot_files_are_safe(
    evil_results: RunResults, tmp_path: Path
) -> None:
    files = write_report(_with_bins(evil_results), tmp_path)
    page, md = files.html.read_text(), files.markdown.read_text()
    assert "<script" not in page.lower() and "## Calibration" in md
    section = md.split("## Calibration", 1)[1].split("## ", 1)[0]
    assert "<script" not in section.lower()
    reliability = [p for p in files.plots if p.name.startswith("reliability-")]
    # one figure per (task, weak, strong, elicitor): 2 tasks x 2 pairs x 2 elicitors
    assert len(reliability) == 8 and len(set(reliability)) == 8
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", p.name) for p in reliability)
    assert section.count("pooled over 2 seed(s), 800 items") == 2 * 8  # alt text and caption
