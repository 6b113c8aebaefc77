"""Supervisors: anything that produces (soft) labels for items.

Listed lazily in :data:`SUPERVISORS` (see :mod:`sandwich.supervision.registry`):
``gold``, ``weak-model``, ``nonexpert`` here, ``human`` in
:mod:`sandwich.feedback.supervisor` and ``protocol`` in
:mod:`sandwich.protocols.supervisor`; each class is imported on first use.
"""

from sandwich.supervision.base import FeatureSource, ModelSource, Supervisor
from sandwich.supervision.registry import SUPERVISORS

__all__ = ["SUPERVISORS", "FeatureSource", "ModelSource", "Supervisor"]
