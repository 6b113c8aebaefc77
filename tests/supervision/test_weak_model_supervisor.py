"""The weak-model supervisor learns from A's gold via a features function."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sandwich.errors import ConfigError
from sandwich.supervision import SUPERVISORS
from sandwich.supervision.weak_model import WeakModelSupervisor
from sandwich.tasks import Item, load_task


class DictFeatures:
    """A FeatureSource backed by a dict: item id -> feature row, per model."""

    def __init__(self, rows: dict[str, dict[str, np.ndarray]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, int]] = []

    def __call__(self, model: str, items: Sequence[Item]) -> np.ndarray:
        self.calls.append((model, len(items)))
        return np.stack([self.rows[model][it.id] for it in items]).astype(np.float32)


def _features(items: Sequence[Item], signal: float, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for it in items:
        x = rng.normal(size=8)
        x[0] += signal * (1.0 if it.label else -1.0)
        out[it.id] = x
    return out


def test_learns_from_a_and_beats_chance_on_b() -> None:
    task = load_task("arithmetic", n_items=1000)
    splits = task.split(0)
    source = DictFeatures({"weak": _features(task.items, signal=1.0)})
    sup = SUPERVISORS.build("weak-model", model="weak", elicitor_params={"Cs": [0.1, 1.0]})
    assert isinstance(sup, WeakModelSupervisor)
    sup.fit(splits.train_weak, source, random_state=0)
    p = sup.predict_proba(splits.train_strong, source)
    assert p.shape == (len(splits.train_strong),)
    assert ((p > 0) & (p < 1)).all()  # soft labels
    accuracy = float(np.mean((p > 0.5) == task.labels(splits.train_strong)))
    assert 0.7 < accuracy < 0.95  # ~Phi(1) = 0.84 for this signal
    assert source.calls[0] == ("weak", len(splits.train_weak))


def test_deterministic() -> None:
    task = load_task("arithmetic", n_items=400)
    s = task.split(0)
    source = DictFeatures({"m": _features(task.items, signal=0.5)})
    a = WeakModelSupervisor(model="m").fit(s.train_weak, source, 3).predict_proba(s.test, source)
    b = WeakModelSupervisor(model="m").fit(s.train_weak, source, 3).predict_proba(s.test, source)
    np.testing.assert_array_equal(a, b)


def test_bad_params() -> None:
    with pytest.raises(ConfigError, match="elicitor_params"):
        WeakModelSupervisor(model="m", elicitor_params={"nope": 1})
    with pytest.raises(ConfigError, match="model"):
        WeakModelSupervisor(model="")


def test_finetune_method_params_are_checked_when_built() -> None:
    with pytest.raises(ConfigError, match="method: Input should be 'probe' or 'finetune'"):
        WeakModelSupervisor(model="m", method="lora")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="elicitor_params for the finetune: loss"):
        WeakModelSupervisor(model="m", method="finetune", elicitor_params={"loss": "xentt"})
    with pytest.raises(ConfigError, match="chain: not supported"):
        WeakModelSupervisor(model="m", method="finetune", elicitor_params={"chain": ["x"]})
    with pytest.raises(ConfigError, match="needs val_fraction > 0"):
        WeakModelSupervisor(model="m", method="finetune", elicitor_params={"val_fraction": 0.0})
    sup = WeakModelSupervisor(model="m", method="finetune", elicitor_params={"mode": "full"})
    assert sup.hparams.method == "finetune"


def test_finetune_method_on_a_model_without_weights_says_so() -> None:
    task = load_task("arithmetic", n_items=60)
    sup = WeakModelSupervisor(model="fake-weak", method="finetune")
    with pytest.raises(ConfigError, match="has none"):
        sup.fit(task.split(0).train_weak, DictFeatures({}), random_state=0)
