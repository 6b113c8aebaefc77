"""The supervisor registry (gold, weak-model, nonexpert, ...)."""

from __future__ import annotations

from sandwich.registry import Registry
from sandwich.supervision.base import Supervisor

SUPERVISORS: Registry[Supervisor] = Registry("supervisor")
