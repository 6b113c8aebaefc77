"""Item: one true/false statement with its gold label."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

GROUP_KEY = "group"
"""The metadata key naming an item's group: items of one group never span two splits."""


def item_id(text: str, label: bool) -> str:
    """Stable id: a hash of the item's content (text and gold label)."""
    payload = json.dumps({"text": text, "label": bool(label)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Item:
    """One question: a statement that is true or false.

    ``difficulty`` is in [0, 1] (0 = easiest); supervisors such as the simulated
    non-expert use it. ``metadata`` holds anything else (source facts, and the
    optional ``group``: items that would give each other away, such as a true
    and a false statement about the same country, share a group so that a
    split keeps them together; see :meth:`sandwich.tasks.Task.split`).
    """

    id: str
    text: str
    label: bool
    difficulty: float = 0.5
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def make(cls, text: str, label: bool, difficulty: float = 0.5, **metadata: Any) -> Item:
        return cls(item_id(text, label), text, bool(label), float(difficulty), metadata)

    @property
    def group(self) -> str | None:
        """The item's group (``metadata["group"]`` as a string), or None: its own group."""
        g = self.metadata.get(GROUP_KEY)
        return None if g is None or g == "" else str(g)
