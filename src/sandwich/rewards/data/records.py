"""Preference data: prompts, their completions with a gold reward, and comparisons between them.

A :class:`PreferenceSet` is what every reward-model stage reads: prompts (each
with its sampled or user-given completions, every completion with its *gold*
reward), split by group into A / B / T exactly like a task
(:meth:`PreferenceSet.split` reuses :meth:`sandwich.tasks.Task.split`), turned
into pairwise questions (:meth:`PreferenceSet.comparisons`) and into a plain
:class:`~sandwich.tasks.Task` of completions (:meth:`PreferenceSet.completion_task`)
so the features cache serves reward-model features unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from sandwich.errors import ConfigError
from sandwich.store.hashing import digest
from sandwich.tasks.item import Item
from sandwich.tasks.task import SPLIT_NAMES, SplitSizes, Task


def prompt_id(prompt: str, *parts: str) -> str:
    """Stable id of a prompt: a hash of its text (and of ``parts``, e.g. a user file's
    chosen and rejected completions, where one prompt may appear on several rows)."""
    return digest({"prompt": prompt, "parts": list(parts)})[:16]


@dataclass(frozen=True)
class Completion:
    """One completion of a prompt (the completion only, not the prompt) and its gold reward.

    ``gold`` is what the task's program (or a user file's score) says it is worth;
    None = unknown (nothing can then be compared under gold).
    """

    text: str
    gold: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ConfigError(f"completion text must be a string, got {self.text!r}")
        if self.gold is not None and not (
            isinstance(self.gold, int | float) and math.isfinite(self.gold)
        ):
            raise ConfigError(
                f"gold reward of completion {self.text[:40]!r} must be a finite number or "
                f"None, got {self.gold!r}"
            )


@dataclass(frozen=True)
class RewardPrompt:
    """A prompt, its completions and the facts the gold program needs.

    ``group``: prompts of one group never span two splits (the country, for
    ``geo-prefs``). ``difficulty`` in [0, 1] (0 = easiest) is read by the simulated
    non-expert. ``metadata``: e.g. ``{"country": "China", "continent": "AS"}``.
    """

    id: str
    prompt: str
    completions: tuple[Completion, ...] = ()
    group: str = ""
    difficulty: float = 0.5
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        where = f"prompt {self.id!r}"
        if not isinstance(self.id, str) or not self.id:
            raise ConfigError(f"prompt id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ConfigError(f"{where}: the prompt text is empty")
        if not isinstance(self.group, str) or not self.group.strip():
            raise ConfigError(f"{where}: group must be a non-empty string, got {self.group!r}")
        if not 0.0 <= float(self.difficulty) <= 1.0:
            raise ConfigError(f"{where}: difficulty must be in [0, 1], got {self.difficulty!r}")
        if not isinstance(self.completions, tuple) or not all(
            isinstance(c, Completion) for c in self.completions
        ):
            raise ConfigError(f"{where}: completions must be a tuple of Completion")

    def with_completions(self, completions: Sequence[Completion]) -> RewardPrompt:
        """The same prompt with ``completions`` (replacing any it had)."""
        return replace(self, completions=tuple(completions))

    def golds(self) -> np.ndarray:
        """The completions' gold rewards (NaN where unknown)."""
        return np.array(
            [np.nan if c.gold is None else c.gold for c in self.completions], dtype=np.float64
        )


@dataclass(frozen=True)
class Comparison:
    """One preference question: completion ``a`` or ``b`` (indices into the prompt's
    completions)? ``gold`` = P(a preferred) under gold: 1.0, 0.0, or 0.5 on a gold tie."""

    prompt_id: str
    a: int
    b: int
    gold: float


class GoldReward(Protocol):
    """The expert: an exact program scoring a completion of a prompt (higher is better)."""

    @property
    def name(self) -> str:
        """Names the program in results (``geo-country``, ``arith-error``)."""
        ...

    def __call__(self, prompt: RewardPrompt, completion: str) -> float: ...


def _prompt_rng(seed: int, pid: str, salt: str) -> np.random.Generator:
    """A generator per (seed, prompt): a prompt's draws do not depend on the other prompts,
    so comparisons made before or after a split agree."""
    return np.random.default_rng([seed, int(digest([salt, pid])[:15], 16)])


def _pref(ga: float, gb: float) -> float:
    return 1.0 if ga > gb else 0.0 if ga < gb else 0.5


class PreferenceSet:
    """An immutable list of :class:`RewardPrompt` and where they came from.

    ``name`` names the set in tasks and messages; ``source`` records how it was
    made (a registry task and its parameters plus the sampling settings, or a file
    and its hash); ``locations`` maps prompt ids to ``file:line`` for user files.
    Prompt ids must be unique.
    """

    def __init__(
        self,
        prompts: Sequence[RewardPrompt],
        name: str = "preferences",
        source: Mapping[str, Any] | None = None,
        locations: Mapping[str, str] | None = None,
    ) -> None:
        self.prompts: tuple[RewardPrompt, ...] = tuple(prompts)
        self.name = name
        self.source: dict[str, Any] = dict(source or {})
        self.locations: dict[str, str] = dict(locations or {})
        if not self.prompts:
            raise ConfigError(f"preference set {name!r} has no prompts")
        seen: dict[str, int] = {}
        for i, p in enumerate(self.prompts):
            if not isinstance(p, RewardPrompt):
                raise ConfigError(f"preference set {name!r}: entry {i} is not a RewardPrompt")
            if p.id in seen:
                raise ConfigError(
                    f"preference set {name!r}: prompts {seen[p.id]} and {i} have the same id "
                    f"{p.id!r} (the same prompt twice: {p.prompt[:60]!r})"
                )
            seen[p.id] = i
        self._index = seen

    def __len__(self) -> int:
        return len(self.prompts)

    def __repr__(self) -> str:
        n = sum(len(p.completions) for p in self.prompts)
        return f"PreferenceSet({self.name!r}, {len(self.prompts)} prompts, {n} completions)"

    def prompt(self, pid: str) -> RewardPrompt:
        """The prompt with id ``pid`` (KeyError naming it if absent)."""
        try:
            return self.prompts[self._index[pid]]
        except KeyError:
            raise KeyError(f"preference set {self.name!r} has no prompt {pid!r}") from None

    def fingerprint(self) -> str:
        """Hash of everything downstream can see: prompts, completions, golds, groups,
        difficulties, in order (not the name, source or metadata)."""
        return digest(
            [
                [p.id, p.prompt, [[c.text, c.gold] for c in p.completions], p.group, p.difficulty]
                for p in self.prompts
            ]
        )

    def comparisons(self, per_prompt: int | None, seed: int) -> list[Comparison]:
        """Up to ``per_prompt`` distinct unordered pairs of completions per prompt (None =
        all pairs), drawn at random per (seed, prompt), each shown in a random order.

        Pairs tied under gold are kept (``gold = 0.5``): they are information about the
        supervisor too. Deterministic per seed; a prompt's pairs do not depend on the
        other prompts. Raises ConfigError if a completion has no gold reward.
        """
        if per_prompt is not None and per_prompt < 1:
            raise ConfigError(f"per_prompt must be >= 1 (or None = all pairs), got {per_prompt}")
        out: list[Comparison] = []
        for p in self.prompts:
            k = len(p.completions)
            if k < 2:
                continue
            golds = p.golds()
            if np.isnan(golds).any():
                bad = int(np.flatnonzero(np.isnan(golds))[0])
                raise ConfigError(
                    f"preference set {self.name!r}, prompt {p.id!r}: completion {bad} has no "
                    "gold reward, so it cannot be compared under gold"
                )
            i, j = np.triu_indices(k, k=1)
            rng = _prompt_rng(seed, p.id, "comparisons")
            take = rng.permutation(len(i))
            if per_prompt is not None:
                take = take[:per_prompt]
            flip = rng.random(len(take)) < 0.5
            for t, f in zip(take, flip, strict=True):
                a, b = (int(j[t]), int(i[t])) if f else (int(i[t]), int(j[t]))
                out.append(Comparison(p.id, a, b, _pref(golds[a], golds[b])))
        return out

    def subset(self, ids: Sequence[str], name: str | None = None) -> PreferenceSet:
        """The prompts with these ids, in this set's order."""
        keep = set(ids)
        missing = keep - set(self._index)
        if missing:
            raise KeyError(f"preference set {self.name!r} has no prompt(s) {sorted(missing)}")
        return PreferenceSet(
            [p for p in self.prompts if p.id in keep],
            name or self.name,
            self.source,
            {k: v for k, v in self.locations.items() if k in keep},
        )

    def split(self, seed: int, sizes: SplitSizes | None = None) -> dict[str, PreferenceSet]:
        """A (``train_weak``), B (``train_strong``) and T (``test``) by group, seeded.

        The prompts go through :meth:`sandwich.tasks.Task.split` as one item each
        (carrying its group), so the split is the task split's: disjoint, covering,
        no group in two parts, sizes as close to ``sizes`` as the groups allow;
        ConfigError when a group is too large to leave every part non-empty. Each
        part keeps this set's prompt order.
        """
        proxy = Task(
            f"{self.name} (prompts)",
            [Item(p.id, p.id, True, float(p.difficulty), {"group": p.group}) for p in self.prompts],
        )
        parts = proxy.split(seed, sizes)
        return {
            name: self.subset([it.id for it in parts[name]], f"{self.name}/{name}")
            for name in SPLIT_NAMES
        }

    def completion_task(self) -> Task:
        """Every completion as an :class:`~sandwich.tasks.Item`, prompt by prompt, in order.

        ``text`` is :func:`join_text` (prompt + completion), so a model's features of an
        item are its features of the completed prompt, and the features cache
        (``ctx.features.table(model, task)``) serves reward-model features unchanged.
        ``id`` is a hash of (prompt id, completion index): stable, and distinct even when
        two samples are the same text. ``label`` (only so the Item is valid) is
        ``gold >= the prompt's median gold`` (False when gold is unknown).
        ``metadata``: ``prompt_id``, ``index``, ``gold``, ``group`` (so the task's own
        split keeps a prompt's completions together).
        """
        items: list[Item] = []
        for p in self.prompts:
            golds = p.golds()
            known = golds[~np.isnan(golds)]
            median = float(np.median(known)) if len(known) else math.inf
            for k, c in enumerate(p.completions):
                items.append(
                    Item(
                        completion_item_id(p.id, k),
                        join_text(p.prompt, c.text),
                        c.gold is not None and c.gold >= median,
                        float(p.difficulty),
                        {"prompt_id": p.id, "index": k, "gold": c.gold, "group": p.group},
                    )
                )
        if not items:
            raise ConfigError(f"preference set {self.name!r} has no completions")
        source = {"kind": "preferences", "name": self.name, "fingerprint": self.fingerprint()}
        return Task(f"{self.name} completions", items, source)


def completion_item_id(pid: str, index: int) -> str:
    """The id of completion ``index`` of prompt ``pid`` in :meth:`PreferenceSet.completion_task`."""
    return digest({"prompt_id": pid, "index": int(index)})[:16]


def join_text(prompt: str, completion: str) -> str:
    """Prompt + completion as one text: concatenated as they are when either side has
    whitespace at the join (a sampled completion carries its own leading space), else
    with one space between (a user file's "Answer:" + "Paris")."""
    if not prompt or not completion or prompt[-1].isspace() or completion[0].isspace():
        return prompt + completion
    return f"{prompt} {completion}"
