"""The items of a study: main, gold and training, drawn from a task by seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np

from sandwich.errors import ConfigError, required
from sandwich.feedback.assistance import Assistance, load_assistance
from sandwich.feedback.pairs import Pair, load_pairs
from sandwich.feedback.study_config import StudyConfig
from sandwich.tasks.item import Item

Role = Literal["main", "gold", "training", "attention"]


@dataclass(frozen=True)
class StudyItem:
    """One item as the study stores it; ``assistance`` maps condition -> payload."""

    key: str
    text: str
    gold: bool
    role: Role
    position: int
    assistance: dict[str, Assistance] = field(default_factory=dict)
    pair: dict[str, Any] | None = None  # a pairwise item (Pair.to_json); gold = "A is better"


def gold_pool_size(cfg: StudyConfig, n_task_items: int) -> int:
    """Gold items in the pool: ``gold.pool``, else 3 x ``gold.n`` or as many as are left."""
    if cfg.gold.pool is not None:
        return cfg.gold.pool
    left = n_task_items - (cfg.training.n + cfg.gold.n + cfg.n_items)
    return cfg.gold.n + max(0, min(2 * cfg.gold.n, left))


def study_items(cfg: StudyConfig) -> list[StudyItem]:
    """Training, gold and main items (disjoint), with every condition's assistance.

    The first ``gold.n`` gold items are drawn where they always were, the rest
    of the pool after the main items, so a pool does not change which items
    are main for a given seed. A pairwise study draws from its pairs instead
    (:func:`pair_items`).
    """
    if cfg.pairs is not None:
        return pair_items(cfg, load_pairs(cfg.pairs))
    task = required(cfg.task, f"study {cfg.name!r}: task").load()
    pool = gold_pool_size(cfg, len(task.items))
    need = cfg.training.n + pool + cfg.n_items
    if need > len(task.items):
        raise ConfigError(
            f"study {cfg.name!r}: needs {need} items (training {cfg.training.n} + gold pool "
            f"{pool} + n_items {cfg.n_items}) but task {task.name!r} has {len(task.items)}"
        )
    order = np.random.default_rng([cfg.seed, 2718281]).permutation(len(task.items))[:need]
    roles: list[Role] = []
    for role, n in (
        ("training", cfg.training.n),
        ("gold", cfg.gold.n),
        ("main", cfg.n_items),
        ("gold", pool - cfg.gold.n),
    ):
        roles += [cast(Role, role)] * n
    chosen = [task.items[i] for i in order]
    ids = {it.id for it in chosen}
    per_cond = {c.name: load_assistance(c, ids) for c in cfg.conditions}
    return [*_task_items(chosen, roles, per_cond), *attention_items(cfg, len(chosen))]


def _task_items(
    chosen: list[Item], roles: list[Role], per_cond: dict[str, dict[str, Assistance]]
) -> list[StudyItem]:
    return [
        StudyItem(
            key=it.id,
            text=it.text,
            gold=it.label,
            role=role,
            position=pos,
            assistance={c: a[it.id] for c, a in per_cond.items() if it.id in a},
        )
        for pos, (it, role) in enumerate(zip(chosen, roles, strict=True))
    ]


def attention_items(cfg: StudyConfig, first_position: int) -> list[StudyItem]:
    """The study's attention checks as items (role ``attention``, no assistance;
    ``gold`` is the instructed answer), after the task's items."""
    items = []
    for k, check in enumerate(cfg.attention.items):
        key = f"attention-{k}"
        pair = None
        if check.completion_a is not None and check.completion_b is not None:
            gold = 1.0 if check.answer else 0.0
            pair = Pair(key, check.text, check.completion_a, check.completion_b, gold).to_json()
        item = StudyItem(key, check.text, check.answer, "attention", first_position + k, pair=pair)
        items.append(item)
    return items


def pair_items(cfg: StudyConfig, pairs: list[Pair]) -> list[StudyItem]:
    """Training, gold and main items of a pairwise study, and its attention checks.

    Training and gold items need a gold preference that is not a tie (the
    rater is told, or checked against, the better completion); main items
    are any pairs. Pairs are drawn in one order per seed: training and the
    first ``gold.n`` gold items from the pairs with gold, main items from the
    rest, then the rest of the gold pool.
    """
    order = [pairs[i] for i in np.random.default_rng([cfg.seed, 2718281]).permutation(len(pairs))]
    checkable = [p for p in order if p.has_gold]
    n_train, n_gold = cfg.training.n, cfg.gold.n
    if n_train + n_gold > len(checkable):
        raise ConfigError(
            f"study {cfg.name!r}: needs {n_train + n_gold} pairs with a gold preference "
            f"(training {n_train} + gold {n_gold}) but {cfg.pairs} has {len(checkable)} "
            "(a gold that is not a tie); add gold to the file or lower training.n / gold.n"
        )
    training = checkable[:n_train]
    first_gold = checkable[n_train : n_train + n_gold]
    taken = {p.key for p in training + first_gold}
    main = [p for p in order if p.key not in taken][: cfg.n_items]
    if len(main) < cfg.n_items:
        raise ConfigError(
            f"study {cfg.name!r}: needs {cfg.n_items} main pairs (n_items) besides training "
            f"{n_train} and gold {n_gold}, but {cfg.pairs} has only {len(main)} left"
        )
    taken |= {p.key for p in main}
    left = [p for p in checkable if p.key not in taken]
    extra = cfg.gold.pool - n_gold if cfg.gold.pool is not None else min(2 * n_gold, len(left))
    if extra > len(left):
        raise ConfigError(
            f"study {cfg.name!r}: gold.pool {cfg.gold.pool} needs {extra} more pairs with a "
            f"gold preference besides training, gold and main, but {cfg.pairs} has {len(left)}"
        )
    more_gold = left[:extra]
    roles: list[tuple[Pair, Role]] = [
        *((p, "training") for p in training),
        *((p, "gold") for p in first_gold),
        *((p, "main") for p in main),
        *((p, "gold") for p in more_gold),
    ]
    per_cond = {c.name: load_assistance(c, {p.key for p, _ in roles}) for c in cfg.conditions}
    items = [
        StudyItem(
            key=p.key,
            text=p.text,
            gold=p.gold is not None and p.gold > 0.5,  # main items without gold: see Pair.gold
            role=role,
            position=pos,
            assistance={c: a[p.key] for c, a in per_cond.items() if p.key in a},
            pair=p.to_json(),
        )
        for pos, (p, role) in enumerate(roles)
    ]
    return [*items, *attention_items(cfg, len(items))]
