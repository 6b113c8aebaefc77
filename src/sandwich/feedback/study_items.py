"""The items of a study: main, gold and training, drawn from a task by seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np

from sandwich.errors import ConfigError
from sandwich.feedback.assistance import Assistance, load_assistance
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
    are main for a given seed.
    """
    task = cfg.task.load()
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
    return [
        StudyItem(
            key=f"attention-{k}",
            text=check.text,
            gold=check.answer,
            role="attention",
            position=first_position + k,
        )
        for k, check in enumerate(cfg.attention.items)
    ]
