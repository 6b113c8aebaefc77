"""Supervisors: anything that produces (soft) labels for items.

Listed lazily in :data:`SUPERVISORS`: ``gold``, ``weak-model``, ``nonexpert``,
``human``, ``protocol`` (in :mod:`sandwich.protocols.supervisor`); the classes
import on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandwich.supervision.base import FeatureSource, ModelSource, Supervisor
from sandwich.supervision.registry import SUPERVISORS

if TYPE_CHECKING:
    from sandwich.supervision.gold import GoldSupervisor
    from sandwich.supervision.human import HumanSupervisor
    from sandwich.supervision.nonexpert import NonExpertSupervisor
    from sandwich.supervision.weak_model import WeakModelSupervisor

_LAZY = {
    "GoldSupervisor": "gold",
    "HumanSupervisor": "human",
    "NonExpertSupervisor": "nonexpert",
    "WeakModelSupervisor": "weak-model",
}

__all__ = [
    "SUPERVISORS",
    "FeatureSource",
    "GoldSupervisor",
    "HumanSupervisor",
    "ModelSource",
    "NonExpertSupervisor",
    "Supervisor",
    "WeakModelSupervisor",
]


def __getattr__(name: str) -> Any:
    """The supervisor classes, each imported on first use (as the registry's entries)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'sandwich.supervision' has no attribute {name!r}")
    return SUPERVISORS.entry(_LAZY[name]).factory
