"""Helpers shared by the built-in task generators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from pydantic import Field

from sandwich.config import Strict
from sandwich.errors import ConfigError
from sandwich.tasks.item import Item
from sandwich.tasks.task import Task

T = TypeVar("T")


def task_params(default_n: int) -> type[Strict]:
    """The parameters every generated task takes, with its default ``n_items``."""

    class TaskParams(Strict):
        n_items: int = Field(default_n, ge=2, description="items generated (half true)")
        seed: int = Field(0, description="seed of the generator (and of the distractors)")

    return TaskParams


def rng_for(name: str, seed: int) -> np.random.Generator:
    """The generator of task ``name`` for ``seed`` (independent across tasks)."""
    salt = int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng([seed, salt])


def halves(n_items: int) -> tuple[int, int]:
    """(number of true, number of false) items: exactly half each for even n."""
    return (n_items + 1) // 2, n_items // 2


def check_n(task: str, n_items: int, max_items: int, why: str) -> None:
    """Raise ConfigError unless n_items <= max_items (``n_items >= 2`` is in the Params)."""
    if n_items > max_items:
        raise ConfigError(
            f"task {task!r}: n_items={n_items} is more than the data can produce; "
            f"the maximum is {max_items} ({why})"
        )


def pick(rng: np.random.Generator, options: Sequence[T], weights: Sequence[float]) -> T:
    """One element of ``options`` drawn with probability proportional to ``weights``."""
    w = np.asarray(weights, dtype=np.float64)
    return options[int(rng.choice(len(options), p=w / w.sum()))]


def balanced(task: str, rng: np.random.Generator, items: list[Item], n_items: int) -> list[Item]:
    """``n_items`` of ``items``, half drawn from the true ones and half from the false, shuffled."""
    true, false = [it for it in items if it.label], [it for it in items if not it.label]
    n_true, n_false = halves(n_items)
    check_n(task, n_items, 2 * min(len(true), len(false)), "half true, half false")
    chosen = [true[i] for i in rng.choice(len(true), n_true, replace=False)]
    chosen += [false[i] for i in rng.choice(len(false), n_false, replace=False)]
    return [chosen[i] for i in rng.permutation(len(chosen))]


def registered_task(name: str, items: list[Item], n_items: int, seed: int, **params: Any) -> Task:
    """A Task whose ``source`` names the registry entry and every parameter."""
    source = {
        "kind": "registry",
        "name": name,
        "params": {"n_items": n_items, "seed": seed, **params},
    }
    return Task(name, items, source)
