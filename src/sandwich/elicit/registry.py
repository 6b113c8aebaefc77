"""The elicitor registry (probe, probe-logconf, finetune, ...)."""

from __future__ import annotations

from sandwich.elicit.base import Elicitor, TextElicitor
from sandwich.registry import Registry

ELICITORS: Registry[Elicitor | TextElicitor] = Registry("elicitor")
