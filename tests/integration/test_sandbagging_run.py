"""The sandbagging kind on the embedded models: smollm2-135m locked with a password, minilm-l6
as the weak supervisor, a few cities statements (configs/sandbagging.yaml, shrunk)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from sandwich.runs import load_results, parse_config, run
from sandwich.runs.sandbagging.schema import SandbaggingRecord
from sandwich.store import ArtifactStore

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).parents[2] / "configs" / "sandbagging.yaml"


def test_the_sandbagging_config_runs_on_the_embedded_models(
    shared_store: ArtifactStore, tmp_path: Path
) -> None:
    doc = yaml.safe_load(CONFIG.read_text())
    doc["tasks"] = [{"name": "cities", "n_items": 60}]  # A 18 (36 lock statements), T 18
    doc["bootstrap"] = {"n_boot": 200}
    doc["sandbagging"]["elicitors"] = ["probe", "finetune"]
    doc["sandbagging"]["lock"]["epochs"] = 1
    doc["sandbagging"]["elicit"]["epochs"] = 1
    start = time.perf_counter()
    out = run(parse_config(doc), runs_root=tmp_path, store=shared_store, progress=False)
    probe, finetune = out.results.cells_of("sandbagging")
    for cell in (probe, finetune):
        assert isinstance(cell, SandbaggingRecord) and cell.n_test == 18 and cell.n_lock == 36
        assert cell.strong == "smollm2-135m" and cell.weak == "minilm-l6"
        for name in ("weak", "locked", "elicited", "unlocked"):
            value, (low, high) = getattr(cell, f"{name}_acc"), getattr(cell, f"{name}_acc_ci")
            assert 0.0 <= low <= value <= high <= 1.0
        assert (cell.pgr is None) == (not cell.lock_worked)
    # one lock, shared by both cells
    assert (probe.locked_acc, probe.unlocked_acc) == (finetune.locked_acc, finetune.unlocked_acc)
    assert probe.elicited_acc != finetune.elicited_acc or probe.specs == finetune.specs
    assert load_results(out.run_dir) == out.results
    assert "## Sandbagging: a password-locked model" in (out.run_dir / "report.md").read_text()
    first = time.perf_counter() - start
    again = run(parse_config(doc), runs_root=tmp_path, store=shared_store, progress=False)
    assert again.results.cells == [
        c.model_copy(update={"seconds": d.seconds})  # type: ignore[attr-defined]
        for c, d in zip(out.results.cells, again.results.cells, strict=True)
    ]
    assert time.perf_counter() - start - first < first  # the rerun reads every stage
