"""A LoRA reward model on the embedded smollm2-135m: trains on 64 pairs, scores, saves, loads."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from sandwich.models import load_model
from sandwich.rewards.finetuned import FineTunedRMParams, TrainedRM, train_reward_model
from sandwich.store import ArtifactStore
from sandwich.tasks import load_task

pytestmark = pytest.mark.integration


def cities_pairs(n: int, seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """A true cities statement against a false one, in a random order; pref 1 if a is true."""
    items = list(load_task("cities", n_items=4 * n + 40, seed=seed).items)
    true = [it.text for it in items if it.label][:n]
    false = [it.text for it in items if not it.label][:n]
    swap = np.random.default_rng(seed).integers(0, 2, size=n).astype(bool)
    a = [f if s else t for t, f, s in zip(true, false, swap, strict=True)]
    b = [t if s else f for t, f, s in zip(true, false, swap, strict=True)]
    return a, b, np.where(swap, 0.0, 1.0)


def test_lora_reward_model_on_smollm2(shared_store: ArtifactStore, tmp_path: Path) -> None:
    a, b, pref = cities_pairs(64, seed=0)
    assert len(a) == 64 and 0 < pref.sum() < 64
    model = load_model("smollm2-135m", store=shared_store)
    params = FineTunedRMParams(
        mode="lora", epochs=1, lr=1e-3, batch_size=8, max_length=24, num_threads=1
    )
    t0 = time.perf_counter()
    model.training_backbone()  # converts the GGUF into the store once per session
    t1 = time.perf_counter()
    rm = train_reward_model(model, a, b, pref, params, seed=0)
    seconds = time.perf_counter() - t1
    print(f"smollm2-135m ready in {t1 - t0:.1f} s; LoRA reward model, 64 pairs x 1 epoch: "
          f"{seconds:.1f} s ({64 / seconds:.2f} pairs/s), load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    s = rm.train_summary
    assert s["steps"] == 8 and len(s["losses"]) == 64 // rm.resolved["minibatch_size"]
    assert s["losses"][0] == pytest.approx(np.log(2), abs=1e-5)  # zero head: P = 1/2
    assert rm.resolved["lr"] == 1e-3 and rm.resolved["pooling"] == "last"
    r = rm.reward(a[:16] + b[:16])
    assert np.all(np.isfinite(r)) and np.std(r) > 0  # the head moved off zero
    q = rm.prob(a[:16], b[:16])
    np.testing.assert_allclose(q, 1 / (1 + np.exp(-(r[:16] - r[16:]))), rtol=1e-9)
    back = TrainedRM.load(rm.save(tmp_path / "rm"), store=shared_store)
    assert back.base == "smollm2-135m"
    assert np.array_equal(back.reward(a[:16] + b[:16]), r)
    size = (tmp_path / "rm" / "trainable.safetensors").stat().st_size
    print(f"saved adapters + head: {size / 1e6:.2f} MB")
    assert size < 5_000_000  # the adapters and the head, not the 135M base weights
