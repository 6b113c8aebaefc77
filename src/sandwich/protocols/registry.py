"""The protocol registry (naive, consultancy, debate, critique)."""

from __future__ import annotations

from sandwich.protocols.base import OversightProtocol
from sandwich.registry import Registry

PROTOCOLS: Registry[OversightProtocol] = Registry("protocol")
