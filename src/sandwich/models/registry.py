"""The model registry: embedded models and the fake backend register by name.

``load_model(name)`` also accepts a local directory or a Hugging Face hub id
(``hf:<id>`` or any name containing "/"); see ``sandwich.models.hf``.
"""

from __future__ import annotations

from sandwich.models.base import Model
from sandwich.registry import Registry

MODELS: Registry[Model] = Registry("model")
