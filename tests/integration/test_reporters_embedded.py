"""The reporters on a real embedded model, end to end: probe, mass-mean, ccs, crc side by side."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from sandwich.models import FeatureSpec
from sandwich.models.hf import HFModel
from sandwich.runs import load_results, parse_config, run
from sandwich.runs.features import TaskFeatures
from sandwich.store import ArtifactStore
from sandwich.tasks import TASKS

pytestmark = pytest.mark.integration


def test_reporters_on_smollm_and_the_contrast_features_are_reused(
    shared_store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = parse_config(
        {
            "name": "reporters",
            "tasks": [{"name": "cities", "n_items": 300}],
            "weak": [{"name": "nonexpert", "params": {"knowledge": 0.5}}],
            "strong": ["smollm2-135m"],
            "elicitors": ["probe", "mass-mean", "ccs", "crc"],
            "seeds": [0],
            "bootstrap": {"n_boot": 200},
        }
    )
    out = run(cfg, runs_root=tmp_path, store=shared_store, progress=False)
    results = load_results(out.run_dir)  # what results.json holds
    by = {c.elicitor: c for c in results.cells}
    assert set(by) == {"probe", "mass-mean", "ccs", "crc"}
    for cell in by.values():
        assert math.isfinite(cell.student_acc) and 0.0 <= cell.student_acc <= 1.0
    assert {c.elicitor for c in results.cells if "zero_supervision" in c.flags} == {"ccs", "crc"}
    task = TASKS.build("cities", n_items=300)
    key = TaskFeatures(shared_store, cfg.features).contrast_key("smollm2-135m", task)
    assert shared_store.lookup(key) is not None

    def no_extraction(self: HFModel, texts: Sequence[str], spec: FeatureSpec) -> np.ndarray:
        raise AssertionError(f"features extracted again ({len(texts)} texts)")

    def no_pairs(self: HFModel, pos: Sequence[str], neg: Sequence[str], spec: FeatureSpec) -> None:
        raise AssertionError(f"contrast features extracted again ({len(pos)} pairs)")

    monkeypatch.setattr(HFModel, "features", no_extraction)
    monkeypatch.setattr(HFModel, "pair_features", no_pairs)
    again = run(cfg, runs_root=tmp_path, store=shared_store, progress=False)
    assert [c.student_acc for c in again.results.cells] == [c.student_acc for c in results.cells]
