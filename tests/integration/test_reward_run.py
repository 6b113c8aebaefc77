"""The reward kind on the embedded models: smollm2-135m samples geo-prefs completions and is
the reward models' base, minilm-l6 is the weak reward model (configs/reward-demo.yaml, shrunk
to a few prompts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sandwich.runs import load_results, parse_config, run
from sandwich.runs.reward.schema import RewardRecord
from sandwich.store import ArtifactStore

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).parents[2] / "configs" / "reward-demo.yaml"


def test_the_reward_demo_runs_on_the_embedded_models(
    shared_store: ArtifactStore, tmp_path: Path
) -> None:
    doc = yaml.safe_load(CONFIG.read_text())
    doc["reward"]["task"]["n_prompts"] = 16  # A 5, B 6, T 5 prompts (by country)
    doc["reward"]["comparisons"] = {"samples": 4, "per_prompt": 6}
    doc["reward"]["bon"] = {"n": 8}
    doc["bootstrap"] = {"n_boot": 200}
    out = run(parse_config(doc), runs_root=tmp_path, store=shared_store, progress=False)
    rows = {r.supervisor: r for r in out.results.cells_of("reward")}
    assert set(rows) == {"gold", "weak-rm:minilm-l6", "nonexpert"}
    for r in rows.values():
        assert isinstance(r, RewardRecord) and r.strong == "smollm2-135m" and r.rm == "bt"
        for name in ("weak", "student", "ceiling"):
            value, (low, high) = getattr(r, f"{name}_acc"), getattr(r, f"{name}_acc_ci")
            assert low is not None and high is not None
            assert 0.0 <= low <= value <= high <= 1.0
        assert [p.n for p in r.bon] == [1, 2, 4, 8]
        assert r.bon[0].gold == pytest.approx(0.0, abs=1e-9)
    assert rows["gold"].weak_acc == 1.0
    # the gold supervisor's reward model is its own ceiling
    assert rows["gold"].student_acc == rows["gold"].ceiling_acc
    again = load_results(out.run_dir)
    assert [r.student_acc for r in again.cells_of("reward")] == [
        r.student_acc for r in out.results.cells_of("reward")
    ]
    report = (out.run_dir / "report.md").read_text()
    assert "Reward models on weak preferences" in report
