"""Every built-in task: balanced, deterministic per seed, no duplicates, valid difficulty."""

from __future__ import annotations

import re

import pytest

from sandwich.errors import ConfigError, UnknownNameError
from sandwich.tasks import TASKS, Task, load_task

SMALL = {"capitals": 200, "continents": 200, "currencies": 200, "borders": 200}
BUILTIN = ["arithmetic", "borders", "capitals", "cities", "continents", "currencies", "larger-city"]


def _n(name: str) -> int:
    return SMALL.get(name, 400)


def test_all_builtins_registered() -> None:
    assert set(BUILTIN) <= set(TASKS.names())


@pytest.mark.parametrize("name", BUILTIN)
def test_balanced_unique_and_valid(name: str) -> None:
    task = load_task(name, n_items=_n(name), seed=3)
    assert isinstance(task, Task)
    assert len(task.items) == _n(name)
    assert sum(it.label for it in task.items) == _n(name) // 2
    assert len({it.id for it in task.items}) == len(task.items)
    assert len({it.text for it in task.items}) == len(task.items)
    assert all(0.0 <= it.difficulty <= 1.0 for it in task.items)
    assert all(it.metadata for it in task.items)
    assert task.source["name"] == name
    assert task.source["params"]["seed"] == 3


@pytest.mark.parametrize("name", BUILTIN)
def test_deterministic_per_seed(name: str) -> None:
    a = load_task(name, n_items=_n(name), seed=1)
    b = load_task(name, n_items=_n(name), seed=1)
    c = load_task(name, n_items=_n(name), seed=2)
    assert [it.id for it in a.items] == [it.id for it in b.items]
    assert a.fingerprint == b.fingerprint
    assert {it.id for it in a.items} != {it.id for it in c.items}


@pytest.mark.parametrize("name", BUILTIN)
def test_too_many_items_names_the_maximum(name: str) -> None:
    with pytest.raises(ConfigError, match=r"maximum is \d+"):
        load_task(name, n_items=10**8)


def test_cities_supports_many_items() -> None:
    task = load_task("cities", n_items=2000, seed=0)
    assert sum(it.label for it in task.items) == 1000
    assert all(re.fullmatch(r"The city of .+ is in .+\.", it.text) for it in task.items)


def test_cities_false_statements_name_another_country() -> None:
    task = load_task("cities", n_items=400)
    for it in task.items:
        m = it.metadata
        assert (m["stated_country"] == m["country"]) == it.label


def test_arithmetic_format_and_truth() -> None:
    task = load_task("arithmetic", n_items=3000, params={"max_digits": 4})
    pattern = re.compile(r"(-?\d+) \+ (-?\d+) = (-?\d+)\.")
    for it in task.items:
        m = pattern.fullmatch(it.text)
        assert m, it.text
        a, b, c = map(int, m.groups())
        assert (a + b == c) == it.label
        assert it.label or 0 < abs(a + b - c) <= 10


def test_odd_n_items_differs_by_one() -> None:
    task = load_task("arithmetic", n_items=101)
    assert sum(it.label for it in task.items) in (50, 51)


def test_unknown_task_suggests_nearest() -> None:
    with pytest.raises(UnknownNameError, match="cities"):
        load_task("citys")


def test_unknown_param_lists_allowed() -> None:
    with pytest.raises(ConfigError, match="max_digits"):
        load_task("arithmetic", params={"digits": 2})


def test_exactly_one_source() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        load_task("cities", path="x.jsonl")
    with pytest.raises(ConfigError, match="exactly one"):
        load_task()


def test_task_params_are_checked_before_loading() -> None:
    from sandwich.tasks.config import TaskConfig

    bad = TaskConfig(name="arithmetic", params={"max_digits": 12})
    assert bad.problems("tasks.0") == [
        "tasks.0.params: max_digits: Input should be less than or equal to 9, got 12"
    ]
    assert TaskConfig(name="larger-city", params={"group_size": 1}).problems("t") == [
        "t.params: group_size: Input should be greater than or equal to 2, got 1"
    ]
    assert TaskConfig(name="arithmetic", params={"max_digits": 2}).problems("tasks.0") == []
