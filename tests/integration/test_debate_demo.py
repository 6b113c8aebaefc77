"""The protocols on the real embedded models: a small debate-demo, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandwich.protocols import read_transcripts
from sandwich.runs import load_config, parse_config, run
from sandwich.store import ArtifactStore

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).parents[2] / "configs" / "debate-demo.yaml"


def test_small_debate_demo_on_embedded_models(
    shared_store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # converted models and the response cache live in the session's shared store
    monkeypatch.setenv("SANDWICH_HOME", str(shared_store.root))
    demo = load_config(CONFIG).document()
    small = {
        **demo,
        "tasks": [{"name": "dossier", "n_items": 20, "seed": 0}],
        "max_items": 6,
        "generation": {"max_new_tokens": 24},
        "protocols": ["naive", {"name": "debate", "params": {"rounds": 1}}],
        "bootstrap": {"n_boot": 200},
    }
    cfg = parse_config(small)
    out = run(cfg, runs_root=tmp_path, progress=False)
    naive, debate, alone = out.results.protocol_rows()
    assert out.results.failures == []
    assert (naive.n_items, debate.n_items, alone.n_items) == (6, 6, 6)
    # the local backend scores the answer tokens: every verdict is a probability
    # (debate: each side speaking first, each in both answer orders)
    assert naive.methods == {"logprobs": 12} and debate.methods == {"logprobs": 24}
    assert alone.protocol == "assistant-alone" and alone.accuracy is not None
    assert naive.accuracy is not None and 0.0 <= naive.accuracy <= 1.0
    assert debate.gap_closed is not None and debate.n_paired == 6
    records = read_transcripts(out.run_dir / debate.transcripts)
    assert out.results.models["judge"]["model"] == "smollm2-135m"
    assert out.results.models["assistant"]["model"] == "gemma3-270m"
    for r in records:
        assert [t.speaker for t in r.turns] == [f'Debater for "{c}"' for c in r.choices]
        assert all(t.text and t.cache_key for t in r.turns)
        assert r.passage and r.status == "ok"
        assert r.p_correct is not None and 0.0 < r.p_correct < 1.0
    assert "### debate" in (out.run_dir / "report.md").read_text()

    # a second run reuses the transcripts and loads no model
    def refuse(spec: object) -> None:
        raise AssertionError("a complete run must not load a model")

    monkeypatch.setattr("sandwich.runs.protocol.build_generator", refuse)
    again = run(cfg, runs_root=tmp_path, progress=False)
    assert [r.accuracy for r in again.results.protocol_rows()] == [
        naive.accuracy,
        debate.accuracy,
        alone.accuracy,
    ]
