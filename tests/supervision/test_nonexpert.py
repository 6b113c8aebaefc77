"""The simulated non-expert matches its documented error model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sandwich.errors import ConfigError
from sandwich.supervision import SUPERVISORS, NonExpertSupervisor
from sandwich.tasks import Item, Task, load_task


def no_features(model: str, items: Sequence[Item]) -> np.ndarray:
    raise AssertionError("the non-expert reads no features")


@pytest.fixture(scope="module")
def task() -> Task:
    return load_task("arithmetic", n_items=4000, seed=0)


def _fit(task: Task, **params: float) -> NonExpertSupervisor:
    sup = SUPERVISORS.build("nonexpert", **params)
    assert isinstance(sup, NonExpertSupervisor)
    return sup.fit(task.split(0).train_weak, no_features, random_state=0)


@pytest.mark.parametrize(
    ("knowledge", "confidence", "bias"),
    [(0.5, 0.9, 0.0), (0.8, 0.95, 0.0), (0.2, 0.8, 0.6), (0.0, 0.9, -0.4), (1.0, 1.0, 0.0)],
)
def test_accuracy_matches_the_model(
    task: Task, knowledge: float, confidence: float, bias: float
) -> None:
    sup = _fit(task, knowledge=knowledge, confidence=confidence, bias=bias)
    p = sup.predict_proba(task.items, no_features)
    y = task.labels()
    accuracy = float(np.mean((p > 0.5) == y))
    expected = knowledge * confidence + (1 - knowledge) * 0.5  # balanced items
    assert accuracy == pytest.approx(expected, abs=0.03)
    assert float(np.mean(sup.knows(task.items))) == pytest.approx(knowledge, abs=0.03)


def test_knows_the_easy_items(task: Task) -> None:
    sup = _fit(task, knowledge=0.4)
    known = sup.knows(task.items)
    d = np.array([it.difficulty for it in task.items])
    assert d[known].max() <= d[~known].min() + 1e-12


def test_soft_labels_state_its_confidence(task: Task) -> None:
    sup = _fit(task, knowledge=0.5, confidence=0.85, guess_confidence=0.55)
    p = sup.predict_proba(task.items, no_features)
    known = sup.knows(task.items)
    assert set(np.round(p[known], 6)) <= {0.85, 0.15}
    assert set(np.round(p[~known], 6)) <= {0.55, 0.45}


@pytest.mark.parametrize("bias", [-0.8, 0.0, 0.8])
def test_bias_shifts_yes_rate(task: Task, bias: float) -> None:
    sup = _fit(task, knowledge=0.5, bias=bias)
    yes = float(np.mean(sup.predict_proba(task.items, no_features) > 0.5))
    assert yes == pytest.approx(0.5 + 0.5 * bias / 2, abs=0.03)


def test_deterministic_per_item_not_per_call_order(task: Task) -> None:
    sup = _fit(task)
    p = sup.predict_proba(task.items, no_features)
    rev = sup.predict_proba(task.items[::-1], no_features)[::-1]
    np.testing.assert_array_equal(p, rev)
    np.testing.assert_array_equal(p, _fit(task).predict_proba(task.items, no_features))
    other = SUPERVISORS.build("nonexpert").fit(task.split(0).train_weak, no_features, 1)
    assert not np.array_equal(p, other.predict_proba(task.items, no_features))


def test_ties_in_difficulty_are_broken_at_random() -> None:
    items = [Item.make(f"s{i}", i % 2 == 0) for i in range(2000)]  # all difficulty 0.5
    sup = NonExpertSupervisor(knowledge=0.3).fit(items[:600], no_features, 0)
    assert float(np.mean(sup.knows(items))) == pytest.approx(0.3, abs=0.04)


@pytest.mark.parametrize(
    ("param", "value", "allowed"),
    [
        ("knowledge", 1.5, "[0.0, 1.0]"),
        ("bias", -2.0, "[-1.0, 1.0]"),
        ("confidence", 0.3, "[0.5, 1.0]"),
        ("guess_confidence", 1.1, "[0.5, 1.0]"),
    ],
)
def test_invalid_params(param: str, value: float, allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        SUPERVISORS.build("nonexpert", **{param: value})
    assert param in str(info.value) and allowed in str(info.value)
