"""Preference records: validation, comparisons, the split by group, the completions as a Task."""

from __future__ import annotations

import math
from itertools import combinations

import pytest

from sandwich.errors import ConfigError
from sandwich.rewards.data import (
    Completion,
    PreferenceSet,
    RewardPrompt,
    completion_item_id,
    join_text,
    prompt_id,
)
from sandwich.tasks import SplitSizes


def _prompt(i: int, golds: list[float | None], group: str | None = None) -> RewardPrompt:
    text = f"Question {i}:"
    return RewardPrompt(
        prompt_id(text),
        text,
        tuple(Completion(f" answer {k}", g) for k, g in enumerate(golds)),
        group=group or f"g{i % 7}",
        difficulty=(i % 10) / 10,
        metadata={"i": i},
    )


def _set(n: int = 60, k: int = 4) -> PreferenceSet:
    return PreferenceSet(
        [_prompt(i, [float((i + j) % 3) / 2 for j in range(k)]) for i in range(n)], "toy"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RewardPrompt("x", "   ", (), "g"), "prompt text is empty"),
        (lambda: RewardPrompt("x", "p", (), ""), "group must be a non-empty string"),
        (lambda: RewardPrompt("x", "p", (), "g", difficulty=1.5), "difficulty must be in"),
        (lambda: Completion(" a", math.nan), "must be a finite number"),
        (lambda: Completion(" a", math.inf), "must be a finite number"),
        (lambda: PreferenceSet([]), "has no prompts"),
        (lambda: PreferenceSet([_prompt(1, [1.0]), _prompt(1, [0.0])]), "have the same id"),
    ],
)
def test_bad_records_fail_naming_the_problem(make: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()  # type: ignore[operator]


def test_prompt_ids_are_content_hashes() -> None:
    assert prompt_id("a") == prompt_id("a") != prompt_id("b")
    assert prompt_id("a", "x", "y") != prompt_id("a", "y", "x") != prompt_id("a")


def test_comparisons_are_distinct_pairs_with_gold_and_random_order() -> None:
    ps = _set(n=50, k=4)
    comps = ps.comparisons(per_prompt=4, seed=3)
    assert len(comps) == 50 * 4
    by_prompt: dict[str, list[tuple[int, int]]] = {}
    for c in comps:
        by_prompt.setdefault(c.prompt_id, []).append((c.a, c.b))
        golds = ps.prompt(c.prompt_id).golds()
        ga, gb = golds[c.a], golds[c.b]
        assert c.gold == (1.0 if ga > gb else 0.0 if ga < gb else 0.5)
    for pairs in by_prompt.values():
        unordered = [frozenset(p) for p in pairs]
        assert len(set(unordered)) == len(unordered) == 4 and all(len(u) == 2 for u in unordered)
    first = [c.a < c.b for c in comps]
    assert 0.3 < sum(first) / len(first) < 0.7  # both orders shown
    assert any(c.gold == 0.5 for c in comps)  # gold ties are kept


def test_comparisons_deterministic_per_seed_and_all_pairs_when_none() -> None:
    ps = _set(n=20, k=5)
    assert ps.comparisons(3, seed=1) == ps.comparisons(3, seed=1)
    assert ps.comparisons(3, seed=1) != ps.comparisons(3, seed=2)
    every = ps.comparisons(None, seed=0)
    assert len(every) == 20 * 10
    for pid in {c.prompt_id for c in every}:
        pairs = {frozenset((c.a, c.b)) for c in every if c.prompt_id == pid}
        assert pairs == {frozenset(p) for p in combinations(range(5), 2)}


def test_comparisons_of_a_prompt_do_not_depend_on_the_other_prompts() -> None:
    ps = _set(n=30, k=4)
    whole = ps.comparisons(2, seed=5)
    for part in ps.split(seed=0).values():
        ids = {p.id for p in part.prompts}
        assert part.comparisons(2, seed=5) == [c for c in whole if c.prompt_id in ids]


def test_comparisons_need_gold() -> None:
    ps = PreferenceSet([_prompt(0, [1.0, None])])
    with pytest.raises(ConfigError, match="completion 1 has no gold reward"):
        ps.comparisons(1, seed=0)


def test_split_keeps_groups_in_one_part_and_covers_every_prompt() -> None:
    ps = PreferenceSet([_prompt(i, [1.0, 0.0], group=f"c{i % 17}") for i in range(170)], "toy")
    parts = ps.split(seed=4, sizes=SplitSizes(0.3, 0.4, 0.3))
    assert set(parts) == {"train_weak", "train_strong", "test"}
    ids = [p.id for part in parts.values() for p in part.prompts]
    assert sorted(ids) == sorted(p.id for p in ps.prompts)
    groups = {name: {p.group for p in part.prompts} for name, part in parts.items()}
    assert not groups["train_weak"] & groups["train_strong"]
    assert not groups["train_weak"] & groups["test"]
    assert not groups["train_strong"] & groups["test"]
    assert 35 <= len(parts["train_strong"]) <= 90  # groups of 10: near 40 %
    again = ps.split(seed=4, sizes=SplitSizes(0.3, 0.4, 0.3))["test"]
    assert [p.id for p in again.prompts] == [p.id for p in parts["test"].prompts]
    assert ps.split(seed=4)["test"].fingerprint() != ps.split(seed=5)["test"].fingerprint()


def test_split_fails_clearly_when_a_group_is_too_big() -> None:
    ps = PreferenceSet([_prompt(i, [1.0, 0.0], group="one") for i in range(10)], "toy")
    with pytest.raises(ConfigError, match="cannot split"):
        ps.split(seed=0)


def test_completion_task_items_map_back_to_their_prompts() -> None:
    ps = _set(n=6, k=3)
    task = ps.completion_task()
    assert len(task.items) == 18
    for item in task.items:
        p = ps.prompt(item.metadata["prompt_id"])
        c = p.completions[item.metadata["index"]]
        assert item.text == p.prompt + c.text
        assert item.metadata["gold"] == c.gold and item.group == p.group
        assert item.label == (c.gold >= sorted(p.golds())[1])  # median of 3
        assert item.id == completion_item_id(p.id, item.metadata["index"])
    assert [it.id for it in _set(n=6, k=3).completion_task().items] == [it.id for it in task.items]
    assert task.source["fingerprint"] == ps.fingerprint()


def test_completion_task_allows_identical_samples() -> None:
    p = RewardPrompt(prompt_id("Q"), "Q", (Completion(" same", 1.0), Completion(" same", 1.0)), "g")
    task = PreferenceSet([p]).completion_task()
    assert len({it.id for it in task.items}) == 2


def test_fingerprint_follows_content_not_name() -> None:
    assert _set().fingerprint() == PreferenceSet(_set().prompts, "other").fingerprint()
    changed = list(_set().prompts)
    changed[0] = changed[0].with_completions([Completion(" other", 0.0)])
    assert PreferenceSet(changed).fingerprint() != _set().fingerprint()


def test_join_text_adds_a_space_only_when_neither_side_has_one() -> None:
    assert join_text("The city of X is in", " China.") == "The city of X is in China."
    assert join_text("Answer:", "Paris") == "Answer: Paris"
    assert join_text("Answer:\n", "Paris") == "Answer:\nParis"
