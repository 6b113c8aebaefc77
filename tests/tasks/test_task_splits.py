"""Task.split: disjoint, covering, stratified, deterministic."""

from __future__ import annotations

import pytest

from sandwich.errors import ConfigError
from sandwich.tasks import SplitSizes, Task, load_task
from sandwich.tasks.item import Item


@pytest.fixture(scope="module")
def task() -> Task:
    return load_task("arithmetic", n_items=1000, seed=0)


def test_disjoint_and_covering(task: Task) -> None:
    s = task.split(seed=5)
    ids = [[it.id for it in s[name]] for name in ("train_weak", "train_strong", "test")]
    flat = [i for part in ids for i in part]
    assert len(flat) == len(set(flat)) == len(task.items)
    assert set(flat) == {it.id for it in task.items}
    assert [len(p) for p in ids] == [300, 400, 300]


def test_stratified(task: Task) -> None:
    s = task.split(seed=5)
    for part in (s.train_weak, s.train_strong, s.test):
        assert sum(it.label for it in part) == len(part) // 2


def test_deterministic(task: Task) -> None:
    a, b, c = task.split(1), task.split(1), task.split(2)
    assert [it.id for it in a.test] == [it.id for it in b.test]
    assert [it.id for it in a.test] != [it.id for it in c.test]


def test_custom_sizes_and_bad_sizes(task: Task) -> None:
    s = task.split(0, SplitSizes(0.2, 0.6, 0.2))
    assert [len(s.train_weak), len(s.train_strong), len(s.test)] == [200, 600, 200]
    with pytest.raises(ConfigError):
        SplitSizes(0.5, 0.5, 0.5)


def test_duplicate_items_rejected() -> None:
    it = Item.make("a + b", True)
    with pytest.raises(ConfigError, match="duplicate"):
        Task("t", [it, it])
