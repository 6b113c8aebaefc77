"""The elicitor registry (probe, probe-logconf, finetune, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandwich.registry import Registry

if TYPE_CHECKING:
    from sandwich.elicit.base import Elicitor, TextElicitor

ELICITORS: Registry[Elicitor | TextElicitor] = Registry("elicitor")
