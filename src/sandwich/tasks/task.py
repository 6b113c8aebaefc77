"""Task: a named set of items with a fixed, seeded split into A, B and T."""

from __future__ import annotations

import functools
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


def _label_targets(n: int, sizes: SplitSizes) -> np.ndarray:
    """Items of one label per split: round(n * fraction) for A and B, the rest for T."""
    n_a = round(n * sizes.train_weak)
    n_b = round(n * sizes.train_strong)
    return np.array([n_a, n_b, n - n_a - n_b], dtype=np.float64)


def assign_groups(counts: np.ndarray, targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The split (0 = A, 1 = B, 2 = T) of each group: a seeded greedy assignment.

    ``counts`` is (groups x 2): each group's true and false items; ``targets``
    (3 x 2) the wanted items per split and label. Groups are shuffled, then
    taken largest first (stable, so equal sizes stay in shuffled order); each
    goes to the split where it most reduces ``sum((count - target)^2 / target)``
    over splits and labels (ties broken at random). A single item therefore
    always goes to a split still short of its label, so the last, smallest
    groups fill what the large ones left: with groups of at most 10 items the
    built-in tasks' parts came within 3 items of their targets (measured in
    docs/tasks.md). Groups are never cut, so a very large group can still
    push a part far off its target.
    """
    order = rng.permutation(len(counts))
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    filled = np.zeros_like(targets)
    scale = np.maximum(targets, 1.0)
    out = np.empty(len(counts), dtype=np.int64)
    for g in order:
        c = counts[g]
        cost = (((filled + c - targets) ** 2 - (filled - targets) ** 2) / scale).sum(axis=1)
        best = np.flatnonzero(np.isclose(cost, cost.min()))
        s = int(best[0] if len(best) == 1 else rng.choice(best))
        out[g] = s
        filled[s] += c
    return out


@dataclass(frozen=True)
class Task:
    """A named list of items with gold labels.

    ``source`` records how the task was made (registry name and parameters, or
    a file path and its hash) so that caches and results can name it exactly.
    ``locations`` maps item ids to where they came from (``file:line``), for
    messages such as the leakage warnings.
    """

    name: str
    items: list[Item]
    source: dict[str, Any] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

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

    @functools.cached_property
    def fingerprint(self) -> str:
        """Hash of the items' ids and difficulties, in order (and groups, if any); computed
        once per (frozen) task: every stage key of every cell holds it.

        Equal fingerprints mean identical items as far as anything downstream
        can tell (text and label via the id; difficulty, which supervisors such
        as the simulated non-expert read; the groups, which shape the split).
        Groups count only when some group holds two or more items, so a task
        whose groups are all single items keeps the fingerprint (and the split)
        it had before groups existed.
        """
        if self.group_index() is None:
            return digest([[it.id, it.difficulty] for it in self.items])
        return digest([[it.id, it.difficulty, it.group] for it in self.items])

    def where(self, item: Item) -> str:
        """Where ``item`` came from (``file:line``), else ``item <id>``."""
        return self.locations.get(item.id) or f"item {item.id}"

    def group_index(self) -> np.ndarray | None:
        """Each item's group number (in order of first appearance), or None when
        every item is its own group (no group, or a group of one)."""
        keys = [it.group if it.group is not None else ("", it.id) for it in self.items]
        number: dict[object, int] = {}
        index = np.array([number.setdefault(k, len(number)) for k in keys], dtype=np.int64)
        return None if len(number) == len(self.items) else index

    def texts(self, items: Sequence[Item] | None = None) -> list[str]:
        return [it.text for it in (self.items if items is None else items)]

    def labels(self, items: Sequence[Item] | None = None) -> np.ndarray:
        return np.array([it.label for it in (self.items if items is None else items)], dtype=bool)

    def split(
        self, seed: int, sizes: SplitSizes | None = None, *, use_groups: bool = True
    ) -> Splits:
        """Seeded, label-stratified, group-aware split into A, B and T.

        The three parts are disjoint and cover all items, and no group spans
        two of them. Per label, A gets ``round(n * train_weak)`` items, B
        ``round(n * train_strong)`` and T the rest, exactly when every item is
        its own group (the split is then the one sandwich made before groups
        existed) and as closely as the groups allow otherwise
        (:func:`assign_groups`). Raises ConfigError if the groups are too big
        to leave any part non-empty. ``use_groups=False`` ignores the groups
        (the split made before groups existed; only to measure what groups
        prevent, see :mod:`sandwich.tasks.leakage`).
        """
        sizes = sizes or SplitSizes()
        rng = np.random.default_rng([seed, 7919])
        index = self.group_index() if use_groups else None
        if index is None:
            return self._split_items(rng, sizes)
        labels = self.labels()
        counts = np.zeros((int(index.max()) + 1, 2), dtype=np.float64)
        np.add.at(counts, (index, np.where(labels, 0, 1)), 1.0)
        targets = np.stack(
            [_label_targets(int(labels.sum()), sizes), _label_targets(int((~labels).sum()), sizes)],
            axis=1,
        )
        where = assign_groups(counts, targets, rng)[index]
        parts: dict[str, list[Item]] = {}
        for s, name in enumerate(SPLIT_NAMES):
            members = [it for it, w in zip(self.items, where, strict=True) if w == s]
            if not members:
                biggest = int(counts.sum(axis=1).max())
                raise ConfigError(
                    f"task {self.name!r}: cannot split {len(self.items)} items in "
                    f"{len(counts)} groups so that {name} is not empty (the largest group has "
                    f"{biggest} items); use smaller groups or more items"
                )
            parts[name] = [members[j] for j in rng.permutation(len(members))]
        return Splits(**parts)

    def _split_items(self, rng: np.random.Generator, sizes: SplitSizes) -> Splits:
        """The split when every item is its own group: per label, a seeded permutation cut
        at the target sizes; then each part shuffled (labels interleaved)."""
        parts: dict[str, list[Item]] = {n: [] for n in SPLIT_NAMES}
        for label in (True, False):
            group = [it for it in self.items if it.label == label]
            order = rng.permutation(len(group))
            n_a, n_b, _ = (int(t) for t in _label_targets(len(group), sizes))
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
