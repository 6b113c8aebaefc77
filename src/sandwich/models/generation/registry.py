"""The generation-backend registry: ``local``, ``openai``, ``fake`` (see ``make_generator``)."""

from __future__ import annotations

from sandwich.models.generation.base import Generator
from sandwich.registry import Registry

GENERATORS: Registry[Generator] = Registry("generation backend")
