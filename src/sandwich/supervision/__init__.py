"""Supervisors: anything that produces (soft) labels for items.

Registered in :data:`SUPERVISORS`: ``gold``, ``weak-model``, ``nonexpert``, ``human``,
``protocol``.
"""

# registers ``human`` (sandwich.feedback.supervisor.HumanSupervisor); last, as that
# module imports supervision.base (so importing it first works too)
from sandwich.feedback import supervisor as _human  # noqa: F401
from sandwich.supervision.base import FeatureSource, Supervisor
from sandwich.supervision.gold import GoldSupervisor
from sandwich.supervision.nonexpert import NonExpertSupervisor
from sandwich.supervision.protocol import ProtocolSupervisor
from sandwich.supervision.registry import SUPERVISORS
from sandwich.supervision.weak_model import WeakModelSupervisor

__all__ = [
    "SUPERVISORS",
    "FeatureSource",
    "GoldSupervisor",
    "NonExpertSupervisor",
    "ProtocolSupervisor",
    "Supervisor",
    "WeakModelSupervisor",
]
