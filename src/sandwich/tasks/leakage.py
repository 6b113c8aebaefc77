"""Leakage between the splits of a task: what A or B could give away about T.

Three kinds of leak, each between items in different splits (A = train_weak,
B = train_strong, T = test):

- ``duplicate``: the same text (a file may hold a statement twice with
  different ids or labels);
- ``near-duplicate``: texts equal after :func:`normalise` (case, accents,
  punctuation and whitespace ignored; digits kept, since "3 + 5 = 8." and
  "3 + 5 = 9." are different statements);
- ``shared group``: one ``group`` in two splits (:meth:`Task.split` never does
  this; splits made elsewhere might).

:func:`split_warnings` turns them (and split sizes far from the requested
fractions) into the run's warnings, naming example items by ``file:line``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sandwich.tasks.item import Item
from sandwich.tasks.task import SPLIT_NAMES, Splits, SplitSizes, Task

KINDS = ("duplicate", "near-duplicate", "shared group")
SIZE_TOLERANCE = 0.05
"""A split whose share of the items is further than this from its fraction is reported."""

_NOT_WORD = re.compile(r"[^\w\s]|_")


def normalise(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces; digits kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(_NOT_WORD.sub(" ", bare).split())


@dataclass(frozen=True)
class Leak:
    """One text, normalised text or group found in two or more splits."""

    kind: str
    key: str
    items: tuple[tuple[str, Item], ...]  # (split name, item), in split order

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for name, _ in self.items))


def _leaks(kind: str, splits: Splits, key: Callable[[Item], str | None]) -> list[Leak]:
    found: dict[str, list[tuple[str, Item]]] = {}
    for name in SPLIT_NAMES:
        for it in splits[name]:
            k = key(it)
            if k is not None:
                found.setdefault(k, []).append((name, it))
    out = []
    for k, members in found.items():
        if len({name for name, _ in members}) < 2:
            continue
        # with two splits and two different texts, two different texts sit in two splits
        if kind == "near-duplicate" and len({it.text for _, it in members}) < 2:
            continue
        out.append(Leak(kind, k, tuple(members)))
    return out


def find_leaks(splits: Splits) -> list[Leak]:
    """Every duplicate, near-duplicate and shared group across the splits."""
    return (
        _leaks("duplicate", splits, lambda it: it.text)
        + _leaks("near-duplicate", splits, lambda it: normalise(it.text))
        + _leaks("shared group", splits, lambda it: it.group)
    )


_WHAT = {
    "duplicate": "text(s) appear in more than one of A/B/T (exact duplicates)",
    "near-duplicate": (
        "text(s) appear in more than one of A/B/T up to case, accents, punctuation and spaces "
        "(near-duplicates)"
    ),
    "shared group": "group(s) span more than one of A/B/T",
}
_FIX = {
    "duplicate": "remove the copies or give them one `group` to keep them in one split",
    "near-duplicate": "remove the copies or give them one `group` to keep them in one split",
    "shared group": "make the split with Task.split, which keeps groups together",
}


def _example(task: Task, leak: Leak, pos: dict[str, int], max_items: int = 3) -> str:
    """The leak's key and its first items (split by split, in task order) with their lines."""
    members = sorted(leak.items, key=lambda m: (SPLIT_NAMES.index(m[0]), pos.get(m[1].id, 0)))
    shown = [
        f"{task.where(it)} ({name}, {'true' if it.label else 'false'})"
        for name, it in members[:max_items]
    ]
    more = f" and {len(leak.items) - max_items} more" if len(leak.items) > max_items else ""
    return f"{leak.key!r} at " + ", ".join(shown) + more


def leakage_warnings(
    task: Task, splits_by_seed: Mapping[int, Splits], examples: int = 2
) -> list[str]:
    """One warning per kind of leak found in any seed's split, with examples (``file:line``)."""
    reports = {seed: find_leaks(s) for seed, s in splits_by_seed.items()}
    pos = {it.id: i for i, it in enumerate(task.items)}
    out = []
    for kind in KINDS:
        counts = {seed: [lk for lk in leaks if lk.kind == kind] for seed, leaks in reports.items()}
        hit = {seed: leaks for seed, leaks in counts.items() if leaks}
        if not hit:
            continue
        first_seed, first = next(iter(hit.items()))
        per_seed = ", ".join(f"{len(v)} in seed {seed}" for seed, v in hit.items())
        shown = "; ".join(_example(task, lk, pos) for lk in first[:examples])
        out.append(
            f"task {task.name!r}: {_WHAT[kind]}: {per_seed} (of {len(splits_by_seed)} seeds); "
            f"e.g. seed {first_seed}: {shown}. To fix: {_FIX[kind]}"
        )
    return out


def size_warnings(task: Task, splits_by_seed: Mapping[int, Splits], sizes: SplitSizes) -> list[str]:
    """A warning if a split's share of the items is off its fraction by more than
    :data:`SIZE_TOLERANCE` (large groups can force this; a task without groups of
    two or more items is split exactly, up to rounding, so it is not checked)."""
    out: list[str] = []
    n = len(task.items)
    if task.group_index() is None:
        return out
    for seed, s in splits_by_seed.items():
        off = [
            f"{name} {len(s[name]) / n:.2f} (asked {getattr(sizes, name):.2f})"
            for name in SPLIT_NAMES
            if abs(len(s[name]) / n - getattr(sizes, name)) > SIZE_TOLERANCE
        ]
        if off:
            out.append(
                f"task {task.name!r}: seed {seed}: split shares are off the requested fractions "
                f"({', '.join(off)}); groups this large cannot be split closer, use smaller ones"
            )
    return out


def split_warnings(
    task: Task, splits_by_seed: Mapping[int, Splits], sizes: SplitSizes | None = None
) -> list[str]:
    """Leakage warnings and split-size warnings of one task over its seeds' splits."""
    return leakage_warnings(task, splits_by_seed) + size_warnings(
        task, splits_by_seed, sizes or SplitSizes()
    )


def shared_group_rate(splits: Splits) -> float:
    """Share of T's items whose group also has an item in A or B."""
    train = {it.group for it in splits.train_weak + splits.train_strong if it.group is not None}
    return sum(it.group in train for it in splits.test) / len(splits.test)


def main(argv: list[str] | None = None) -> None:
    """Print, per task, its groups and how often a test item's group is also in A or B,
    with the group-aware split and with the item-wise one; then the warnings."""
    import argparse

    from sandwich.tasks.load import load_task

    ap = argparse.ArgumentParser(
        prog="python -m sandwich.tasks.leakage",
        description="Leakage between A, B and T of tasks (registered names or .jsonl/.csv files).",
    )
    ap.add_argument("tasks", nargs="+", help="task names or file paths")
    ap.add_argument("--seeds", type=int, default=5, help="split seeds 0..N-1 (default 5)")
    ap.add_argument("--n-items", type=int, default=None, help="items per task (default: all)")
    args = ap.parse_args(argv)
    seeds = range(args.seeds)
    print(
        "| task | items | groups of 2+ | largest group | A / B / T (seed 0) "
        "| largest gap to n * fraction | largest true - false gap "
        f"| T items whose group is in A or B, mean of {args.seeds} seeds: item-wise split "
        "| group-aware split |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    notes: list[str] = []
    fractions = SplitSizes()
    for spec in args.tasks:
        is_file = spec.endswith((".jsonl", ".csv"))
        task = load_task(
            None if is_file else spec, path=spec if is_file else None, n_items=args.n_items
        )
        sizes = Counter(it.group for it in task.items if it.group is not None)
        by_seed = {seed: task.split(seed) for seed in seeds}
        plain = [shared_group_rate(task.split(seed, use_groups=False)) for seed in seeds]
        grouped = [shared_group_rate(s) for s in by_seed.values()]
        n = len(task.items)
        parts = [s[name] for s in by_seed.values() for name in SPLIT_NAMES]
        size_gap = max(
            abs(len(s[name]) - n * getattr(fractions, name))
            for s in by_seed.values()
            for name in SPLIT_NAMES
        )
        label_gap = max(abs(2 * sum(it.label for it in p) - len(p)) for p in parts)
        s0 = by_seed[0]
        print(
            f"| {task.name} | {n} | {sum(k > 1 for k in sizes.values())} "
            f"| {max(sizes.values(), default=1)} "
            f"| {len(s0.train_weak)} / {len(s0.train_strong)} / {len(s0.test)} "
            f"| {size_gap:g} | {label_gap} "
            f"| {sum(plain) / len(plain):.1%} | {sum(grouped) / len(grouped):.1%} |"
        )
        notes += split_warnings(task, by_seed)
    for w in notes:
        print(f"warning: {w}")


if __name__ == "__main__":
    main()
