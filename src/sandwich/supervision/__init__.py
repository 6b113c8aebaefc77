"""Supervisors: anything that produces (soft) labels for items.

Registered in :data:`SUPERVISORS`: ``gold``, ``weak-model``, ``nonexpert``, ``human``,
``protocol`` (in :mod:`sandwich.protocols.supervisor`, imported on first use).
"""

from sandwich.supervision.base import FeatureSource, ModelSource, Supervisor
from sandwich.supervision.gold import GoldSupervisor
from sandwich.supervision.human import HumanSupervisor
from sandwich.supervision.nonexpert import NonExpertSupervisor
from sandwich.supervision.registry import SUPERVISORS
from sandwich.supervision.weak_model import WeakModelSupervisor

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
SUPERVISORS.lazy("protocol", "sandwich.protocols.supervisor:ProtocolSupervisor",
                 "a protocol's judge (naive, debate, ...) as labeller")  # fmt: skip
