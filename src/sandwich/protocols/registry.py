"""The protocol registry (naive, consultancy, debate, critique)."""

from __future__ import annotations

from sandwich.protocols.base import Protocol
from sandwich.registry import Registry

PROTOCOLS: Registry[Protocol] = Registry("protocol")
