"""Item: one true/false statement with its gold label."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


def item_id(text: str, label: bool) -> str:
    """Stable id: a hash of the item's content (text and gold label)."""
    payload = json.dumps({"text": text, "label": bool(label)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Item:
    """One question: a statement that is true or false.

    ``difficulty`` is in [0, 1] (0 = easiest); supervisors such as the simulated
    non-expert use it. ``metadata`` holds anything else (source facts, group).
    """

    id: str
    text: str
    label: bool
    difficulty: float = 0.5
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def make(cls, text: str, label: bool, difficulty: float = 0.5, **metadata: Any) -> Item:
        return cls(item_id(text, label), text, bool(label), float(difficulty), metadata)
