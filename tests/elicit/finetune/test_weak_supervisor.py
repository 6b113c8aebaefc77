"""The fine-tuned weak supervisor (``weak-model``, ``method: finetune``) on tiny local models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sandwich.elicit.finetune import FineTuneElicitor
from sandwich.models import load_model
from sandwich.runs import parse_config, run
from sandwich.store import ArtifactStore
from sandwich.supervision import SUPERVISORS
from sandwich.supervision.weak_model import WeakModelSupervisor
from sandwich.tasks import Item

from .conftest import build_llama, separable_task

FT = {"mode": "full", "epochs": 2, "lr": 3e-3, "batch_size": 8, "minibatch_size": 4,
      "max_length": 16, "select": "last"}  # fmt: skip


def items(n: int, seed: int) -> list[Item]:
    texts, labels = separable_task(n, seed=seed)
    return [Item.make(t, bool(y)) for t, y in zip(texts, labels, strict=True)]


def no_features(model: str, its: Any) -> np.ndarray:
    raise AssertionError("a fine-tuned supervisor reads texts, not features")


def test_it_is_the_finetune_elicitor_trained_on_a_gold(llama_dir: Path) -> None:
    train, test = items(120, seed=1), items(80, seed=2)
    sup = SUPERVISORS.build(
        "weak-model", model=str(llama_dir), method="finetune", elicitor_params=FT
    )
    assert isinstance(sup, WeakModelSupervisor)
    p = sup.fit(train, no_features, random_state=4).predict_proba(test, no_features)
    gold = np.array([it.label for it in test])
    assert np.mean((p > 0.5) == gold) > 0.9  # learns the separable task from A's gold
    # the same fine-tuning code, trained directly: the same labels
    direct = FineTuneElicitor(**FT).fit_text(
        [load_model(str(llama_dir))], [it.text for it in train],
        np.array([it.label for it in train], dtype=np.float64), random_state=4,
    )  # fmt: skip
    np.testing.assert_allclose(p, direct.predict_proba_text([it.text for it in test]), atol=1e-6)


def test_its_labels_are_cached_in_the_store_like_other_supervisors(
    llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak_dir = build_llama(tmp_path / "weak-llama", seed=3, hidden=16)
    texts, labels = separable_task(200, seed=5)
    rows = {json.dumps({"text": t, "label": bool(y)}) for t, y in zip(texts, labels, strict=True)}
    (tmp_path / "t.jsonl").write_text("\n".join(sorted(rows)) + "\n")
    weak = {"name": "weak-model", "model": str(weak_dir), "label": "weak-ft",
            "params": {"method": "finetune", "elicitor_params": FT}}  # fmt: skip
    cfg = parse_config(
        {
            "name": "ft-weak",
            "tasks": [{"path": str(tmp_path / "t.jsonl")}],
            "weak": [weak],
            "strong": [str(llama_dir)],
            "elicitors": ["probe"],
            "seeds": [0],
            "bootstrap": {"n_boot": 100},
        }
    )
    store = ArtifactStore(tmp_path / "store")
    first = run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    assert len(list((store.root / "artifacts" / "labels").glob("*/*/MANIFEST.json"))) == 1
    assert first.results.cells[0].weak == "weak-ft"
    assert first.results.cells[0].weak_acc > 0.75  # the fine-tuned weak model learned A

    def no_training(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the supervisor's labels should come from the store")

    monkeypatch.setattr(FineTuneElicitor, "fit_text", no_training)
    again = run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    assert again.results.cells[0].weak_acc == first.results.cells[0].weak_acc
    np.testing.assert_array_equal(again.outcomes[0].p_weak, first.outcomes[0].p_weak)


def test_resolved_params_show_the_values_auto_chose(llama_dir: Path) -> None:
    ft = FineTuneElicitor(**{**FT, "lr": "auto", "epochs": 1, "pooling": "auto"})
    before = ft.resolved_params()
    assert before["lr"] == "auto" and before["mixed_precision"] == "no"  # CPU: fp32
    texts, labels = separable_task(16, seed=0)
    ft.fit_text([load_model(str(llama_dir))], texts, labels, random_state=0)
    after = ft.resolved_params()
    # full fine-tuning of a model below 400M parameters: the reference lr, 5e-5
    assert after["lr"] == pytest.approx(5e-5) and after["pooling"] == "last"  # a decoder
    assert {k: v for k, v in after.items() if k not in ("lr", "pooling", "mixed_precision")} == {
        k: v for k, v in ft.get_params().items() if k not in ("lr", "pooling", "mixed_precision")
    }
