"""Group-aware splits: no group (and no shared entity of a built-in task) spans A, B, T."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest

from sandwich.errors import ConfigError, InputFileError
from sandwich.tasks import Item, SplitSizes, Task, load_hf_task, load_task, load_task_file
from sandwich.tasks.task import SPLIT_NAMES, Splits

SEEDS = range(5)
SIZES = SplitSizes()


def _country(it: Item) -> set[Any]:
    return {it.metadata["country"]}


# What a test item could be given away by, read from the facts each item
# carries (not from its group): the same country (for capitals also the
# country whose capital is named), the same city, the same bordering pair, the
# same two operands.
ENTITIES: dict[str, Callable[[Item], set[Any]]] = {
    "capitals": lambda it: {it.metadata["country"], it.metadata["capital_of"]},
    "continents": _country,
    "currencies": _country,
    "dossier": _country,
    "cities": lambda it: {it.metadata["city"]},
    "borders": lambda it: {frozenset((it.metadata["country_a"], it.metadata["country_b"]))},
    "larger-city": lambda it: {it.metadata["city_a"], it.metadata["city_b"]},
    "arithmetic": lambda it: {frozenset((it.metadata["a"], it.metadata["b"]))},
}


def _part_of(splits: Splits) -> dict[str, str]:
    return {it.id: name for name in SPLIT_NAMES for it in splits[name]}


def shared_entity_rate(task: Task, splits: Splits) -> float:
    """Share of T's items naming an entity that also occurs in A or B."""
    entities = ENTITIES[task.name]
    train = {e for it in splits.train_weak + splits.train_strong for e in entities(it)}
    return float(np.mean([bool(entities(it) & train) for it in splits.test]))


@pytest.fixture(scope="module", params=sorted(ENTITIES))
def builtin(request: pytest.FixtureRequest) -> Task:
    return load_task(request.param, seed=0)  # each task's default size


def test_no_entity_and_no_group_spans_two_splits(builtin: Task) -> None:
    """Before groups, 58-59% of the country tasks' test items (and 96% of
    larger-city's) named a country (city) also in A or B; now none does."""
    for seed in SEEDS:
        splits = builtin.split(seed)
        assert shared_entity_rate(builtin, splits) == 0.0, (builtin.name, seed)
        part = _part_of(splits)
        seen: dict[str, set[str]] = {}
        for it in builtin.items:
            if it.group is not None:
                seen.setdefault(it.group, set()).add(part[it.id])
        assert all(len(v) == 1 for v in seen.values()), (builtin.name, seed)


def test_every_builtin_item_has_a_group(builtin: Task) -> None:
    assert all(isinstance(it.group, str) and it.group for it in builtin.items)


def test_sizes_and_balance_stay_close_to_the_request(builtin: Task) -> None:
    """Split sizes within the largest group of the target, labels balanced within 2 items."""
    n = len(builtin.items)
    sizes = [len(g) for g in _groups(builtin).values()]
    for seed in SEEDS:
        s = builtin.split(seed)
        for name in SPLIT_NAMES:
            target = n * getattr(SIZES, name)
            assert abs(len(s[name]) - target) <= max(sizes), (builtin.name, seed, name)
            n_true = sum(it.label for it in s[name])
            assert abs(2 * n_true - len(s[name])) <= 4, (builtin.name, seed, name)


def _groups(task: Task) -> dict[object, list[Item]]:
    out: dict[object, list[Item]] = {}
    for it in task.items:
        out.setdefault(it.group if it.group is not None else it.id, []).append(it)
    return out


def test_country_tasks_keep_both_statements_about_a_country_together() -> None:
    task = load_task("continents", seed=0)
    pairs = [g for g in _groups(task).values() if len(g) == 2]
    assert len(pairs) > 100  # most countries have their true and false statement drawn
    assert all({it.label for it in g} == {True, False} for g in pairs)


def test_capitals_name_each_capital_once_true_and_once_false() -> None:
    task = load_task("capitals", n_items=484, seed=0)  # every statement the data makes
    stated: dict[str, list[bool]] = {}
    for it in task.items:  # by country, as two countries have a capital called Kingston
        stated.setdefault(it.metadata["capital_of"], []).append(it.label)
    assert all(sorted(v) == [False, True] for v in stated.values())
    groups = _groups(task).values()
    assert {len(g) for g in groups} <= {4, 6}  # two or three countries, true + false each


def test_larger_city_puts_every_city_in_exactly_one_group() -> None:
    task = load_task("larger-city", seed=0)
    group_of: dict[str, set[str]] = {}
    for it in task.items:
        for city in (it.metadata["city_a"], it.metadata["city_b"]):
            group_of.setdefault(city, set()).add(str(it.group))
    assert all(len(g) == 1 for g in group_of.values())
    assert max(len(g) for g in _groups(task).values()) <= 10  # C(5, 2) pairs per group


def test_larger_city_group_size_is_validated() -> None:
    with pytest.raises(ConfigError, match="group_size: Input should be greater than or equal to 2"):
        load_task("larger-city", params={"group_size": 1})
    with pytest.raises(ConfigError, match="maximum is 1793"):
        load_task("larger-city", n_items=5000)


def _task(groups: list[str | None], labels: list[bool] | None = None) -> Task:
    labels = labels if labels is not None else [i % 2 == 0 for i in range(len(groups))]
    items = [
        Item.make(f"statement {i}.", lab, **({"group": g} if g is not None else {}))
        for i, (g, lab) in enumerate(zip(groups, labels, strict=True))
    ]
    return Task("t", items)


def _ids(s: Splits) -> list[list[str]]:
    return [[it.id for it in s[name]] for name in SPLIT_NAMES]


def test_singleton_groups_split_and_fingerprint_like_no_groups() -> None:
    """Back-compatible: groups of one item change neither the split nor the cache key."""
    plain = _task([None] * 100)
    single = _task([f"g{i}" for i in range(100)])
    assert plain.group_index() is None and single.group_index() is None
    assert plain.fingerprint == single.fingerprint
    for seed in SEEDS:
        assert _ids(plain.split(seed)) == _ids(single.split(seed))


def test_real_groups_change_the_fingerprint() -> None:
    a = _task([f"g{i // 2}" for i in range(100)])
    b = _task([f"g{(i + 1) // 2}" for i in range(100)])
    assert len({a.fingerprint, b.fingerprint, _task([None] * 100).fingerprint}) == 3


def test_grouped_split_hits_exact_targets_with_pairs_and_singles() -> None:
    """Pairs (one true, one false) plus single items: every target met exactly."""
    groups = [f"p{i // 2}" for i in range(600)] + [None] * 400
    task = _task(groups)
    for seed in SEEDS:
        s = task.split(seed)
        assert [len(s[n]) for n in SPLIT_NAMES] == [300, 400, 300]
        assert [sum(it.label for it in s[n]) for n in SPLIT_NAMES] == [150, 200, 150]
    s = task.split(0, SplitSizes(0.2, 0.6, 0.2))
    assert [len(s[n]) for n in SPLIT_NAMES] == [200, 600, 200]


def test_grouped_split_is_deterministic_disjoint_and_covering() -> None:
    task = _task([f"g{i % 37}" for i in range(400)])
    a, b, c = task.split(3), task.split(3), task.split(4)
    assert _ids(a) == _ids(b) and _ids(a) != _ids(c)
    flat = [i for part in _ids(a) for i in part]
    assert sorted(flat) == sorted(it.id for it in task.items)


def test_groups_too_large_to_split_raise() -> None:
    with pytest.raises(ConfigError, match="largest group has 5 items"):
        _task(["x"] * 5 + ["y"] * 5).split(0)


# --- files and datasets ---------------------------------------------------------------


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_and_csv_group_column(tmp_path: Path) -> None:
    p = _jsonl(
        tmp_path / "g.jsonl",
        [
            {"text": "Paris is in France.", "label": True, "group": "paris"},
            {"text": "Paris is in Spain.", "label": False, "group": "paris"},
            {"text": "Rome is in Italy.", "label": True, "group": 7},
            {"text": "Rome is in Peru.", "label": False, "group": None},
        ],
    )
    task = load_task_file(p)
    assert [it.group for it in task.items] == ["paris", "paris", "7", None]
    assert task.where(task.items[2]) == f"{p}:3"
    c = tmp_path / "g.csv"
    c.write_text("text,label,group\nA is B.,yes,g1\nA is C.,no,g1\nD is E.,yes,\n")
    task = load_task_file(c)
    assert [it.group for it in task.items] == ["g1", "g1", None]
    assert "group" not in task.items[2].metadata
    assert task.where(task.items[1]) == f"{c}:3"


@pytest.mark.parametrize("bad", [True, 1.5, ["a"], {"a": 1}, "   "])
def test_bad_group_names_the_line(tmp_path: Path, bad: object) -> None:
    p = _jsonl(
        tmp_path / "bad.jsonl",
        [{"text": "A.", "label": True}, {"text": "B.", "label": False, "group": bad}],
    )
    with pytest.raises(InputFileError, match=r"bad\.jsonl:2: group must"):
        load_task_file(p)


def test_subsampled_file_keeps_groups_and_lines(tmp_path: Path) -> None:
    rows = [{"text": f"{i} is odd.", "label": i % 2 == 1, "group": i // 2} for i in range(40)]
    p = _jsonl(tmp_path / "odd.jsonl", rows)
    task = load_task(path=str(p), n_items=20, seed=1)
    assert all(task.where(it) == f"{p}:{int(it.text.split()[0]) + 1}" for it in task.items)
    part = _part_of(task.split(0))
    by_group: dict[str | None, set[str]] = {}
    for it in task.items:
        by_group.setdefault(it.group, set()).add(part[it.id])
    assert all(len(v) == 1 for v in by_group.values())


def test_hf_group_field(tmp_path: Path) -> None:
    ds = datasets.Dataset.from_dict(
        {"text": ["a.", "b.", "c."], "label": [True, False, True], "topic": ["x", "x", "y"]}
    )
    ds.save_to_disk(str(tmp_path / "ds"))
    task = load_hf_task(str(tmp_path / "ds"), group_field="topic")
    assert [it.group for it in task.items] == ["x", "x", "y"]
    assert task.where(task.items[1]).endswith("ds:row 2")
    assert load_hf_task(str(tmp_path / "ds")).items[0].group is None  # default: no group column
    with pytest.raises(InputFileError, match="no column 'cluster'"):
        load_hf_task(str(tmp_path / "ds"), group_field="cluster")


def test_item_wise_split_leaks_continents_and_groups_stop_it() -> None:
    """The split before groups (use_groups=False, identical to the old code) put a
    continents test item's opposite-label twin in A or B for 58% of T (seeds 0-4)."""
    from sandwich.tasks.leakage import shared_group_rate

    task = load_task("continents", seed=0)
    before = np.mean([shared_group_rate(task.split(s, use_groups=False)) for s in SEEDS])
    after = np.mean([shared_group_rate(task.split(s)) for s in SEEDS])
    assert before > 0.5 and after == 0.0
