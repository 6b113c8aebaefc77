"""The elicitor registry (probe, probe-logconf, ...)."""

from __future__ import annotations

from sandwich.elicit.base import Elicitor
from sandwich.registry import Registry

ELICITORS: Registry[Elicitor] = Registry("elicitor")
