"""The honesty kind on a real embedded model: configs/honesty.yaml's SmolLM2-135M on a few
dossier items, end to end, then again from the response cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandwich.models.generation import CachedGenerator
from sandwich.protocols.generators import build_generator
from sandwich.runs import load_config, parse_config, run
from sandwich.runs.honesty.schema import HonestyRow
from sandwich.store import ArtifactStore

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).parents[2] / "configs" / "honesty.yaml"


def test_sycophancy_of_smollm2_on_a_few_items_then_from_the_cache(
    shared_store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # converted models and the response cache live in the session's shared store
    monkeypatch.setenv("SANDWICH_HOME", str(shared_store.root))
    doc = load_config(CONFIG).document()
    cfg = parse_config({**doc, "honesty": {**doc["honesty"], "max_items": 6},
                        "bootstrap": {"n_boot": 200}})  # fmt: skip
    out = run(cfg, runs_root=tmp_path / "a", progress=False)
    (row,) = out.results.cells_of("honesty")
    assert isinstance(row, HonestyRow) and (row.model, row.n_items) == ("smollm2-135m", 6)
    assert out.results.models["honesty smollm2-135m"]["backend"] == "local"
    m = row.overall
    assert set(m.accuracy) == {"alone", "suggest_right", "suggest_wrong", "challenge"}
    assert all(0.0 <= a.rate <= 1.0 and a.n == 6 for a in m.accuracy.values())
    # log-prob reads: a real model is never exactly sure, so every P(right) is inside (0, 1)
    lines = (out.run_dir / str(row.records)).read_text().splitlines()
    assert len(lines) == 24 and '"p_correct": 0.5,' not in "".join(lines)
    assert (out.run_dir / "plots").is_dir() and "## Sycophancy" in (
        out.run_dir / "report.md"
    ).read_text()

    # a second run answers from the response cache: no request reaches the model
    section = cfg.section("honesty")
    gen = build_generator(section.generator_spec(section.models[0]))  # the run's, built once
    assert isinstance(gen, CachedGenerator)
    misses, hits = gen.misses, gen.hits
    again = run(cfg, runs_root=tmp_path / "b", progress=False)
    assert again.results.cells == out.results.cells
    assert gen.misses == misses and gen.hits == hits + 24
