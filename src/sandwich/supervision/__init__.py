"""Supervisors: anything that produces (soft) labels for items.

Registered in :data:`SUPERVISORS`: ``gold``, ``weak-model``, ``nonexpert``, ``human``,
``protocol``.
"""

from sandwich.supervision.base import FeatureSource, Supervisor
from sandwich.supervision.gold import GoldSupervisor
from sandwich.supervision.human import HumanSupervisor
from sandwich.supervision.nonexpert import NonExpertSupervisor
from sandwich.supervision.protocol import ProtocolSupervisor
from sandwich.supervision.registry import SUPERVISORS
from sandwich.supervision.weak_model import WeakModelSupervisor

__all__ = [
    "SUPERVISORS",
    "FeatureSource",
    "GoldSupervisor",
    "HumanSupervisor",
    "NonExpertSupervisor",
    "ProtocolSupervisor",
    "Supervisor",
    "WeakModelSupervisor",
]
