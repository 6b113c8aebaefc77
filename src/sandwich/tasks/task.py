"""Task: a named set of items with a fixed, seeded split into A, B and T."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sandwich.errors import ConfigError
from sandwich.store.hashing import digest
from sandwich.tasks.item import Item

SPLIT_NAMES = ("train_weak", "train_strong", "test")


@dataclass(frozen=True)
class SplitSizes:
    """Fractions of the items in A (train_weak), B (train_strong) and T (test)."""

    train_weak: float = 0.3
    train_strong: float = 0.4
    test: float = 0.3

    def __post_init__(self) -> None:
        parts = (self.train_weak, self.train_strong, self.test)
        if any(p <= 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
            raise ConfigError(
                f"split fractions must be positive and sum to 1, got {parts} "
                "(train_weak, train_strong, test)"
            )


@dataclass(frozen=True)
class Splits:
    """A (train_weak), B (train_strong) and T (test) of one task for one seed."""

    train_weak: list[Item]
    train_strong: list[Item]
    test: list[Item]

    def __getitem__(self, name: str) -> list[Item]:
        if name not in SPLIT_NAMES:
            raise KeyError(f"unknown split {name!r}; splits are {SPLIT_NAMES}")
        items: list[Item] = getattr(self, name)
        return items


@dataclass(frozen=True)
class Task:
    """A named list of items with gold labels.

    ``source`` records how the task was made (registry name and parameters, or
    a file path and its hash) so that caches and results can name it exactly.
    """

    name: str
    items: list[Item]
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.items:
            raise ConfigError(f"task {self.name!r} has no items")
        seen: dict[str, int] = {}
        for i, item in enumerate(self.items):
            if item.id in seen:
                raise ConfigError(
                    f"task {self.name!r}: items {seen[item.id]} and {i} have the same id "
                    f"{item.id!r} (duplicate statement)"
                )
            seen[item.id] = i

    @property
    def fingerprint(self) -> str:
        """Hash of the items' ids and difficulties, in order.

        Equal fingerprints mean identical items as far as anything downstream
        can tell (text and label via the id; difficulty, which supervisors such
        as the simulated non-expert read).
        """
        return digest([[it.id, it.difficulty] for it in self.items])

    def texts(self, items: Sequence[Item] | None = None) -> list[str]:
        return [it.text for it in (self.items if items is None else items)]

    def labels(self, items: Sequence[Item] | None = None) -> np.ndarray:
        return np.array([it.label for it in (self.items if items is None else items)], dtype=bool)

    def split(self, seed: int, sizes: SplitSizes | None = None) -> Splits:
        """Seeded, label-stratified split into A, B and T (disjoint, covering all items)."""
        sizes = sizes or SplitSizes()
        rng = np.random.default_rng([seed, 7919])
        parts: dict[str, list[Item]] = {n: [] for n in SPLIT_NAMES}
        for label in (True, False):
            group = [it for it in self.items if it.label == label]
            order = rng.permutation(len(group))
            n_a = round(len(group) * sizes.train_weak)
            n_b = round(len(group) * sizes.train_strong)
            cut = {
                "train_weak": (0, n_a),
                "train_strong": (n_a, n_a + n_b),
                "test": (n_a + n_b, len(group)),
            }
            for name, (lo, hi) in cut.items():
                parts[name].extend(group[j] for j in order[lo:hi])
        for name in SPLIT_NAMES:  # interleave labels deterministically
            perm = rng.permutation(len(parts[name]))
            parts[name] = [parts[name][j] for j in perm]
        return Splits(**parts)
