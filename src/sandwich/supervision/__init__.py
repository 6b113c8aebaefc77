"""Supervisors: anything that produces (soft) labels for items.

Registered in :data:`SUPERVISORS`: ``gold``, ``weak-model``, ``nonexpert``, and,
imported on first use, ``human`` (:mod:`sandwich.feedback.supervisor`) and
``protocol`` (:mod:`sandwich.protocols.supervisor`).
"""

from sandwich.supervision.base import FeatureSource, ModelSource, Supervisor
from sandwich.supervision.gold import GoldSupervisor
from sandwich.supervision.nonexpert import NonExpertSupervisor
from sandwich.supervision.registry import SUPERVISORS
from sandwich.supervision.weak_model import WeakModelSupervisor

__all__ = [
    "SUPERVISORS",
    "FeatureSource",
    "GoldSupervisor",
    "ModelSource",
    "NonExpertSupervisor",
    "Supervisor",
    "WeakModelSupervisor",
]
SUPERVISORS.lazy("protocol", "sandwich.protocols.supervisor:ProtocolSupervisor",
                 "a protocol's judge (naive, debate, ...) as labeller")  # fmt: skip
SUPERVISORS.lazy("human", "sandwich.feedback.supervisor:HumanSupervisor",
                 "aggregated human labels from a study export or database")  # fmt: skip
