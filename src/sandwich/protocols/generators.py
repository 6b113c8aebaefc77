"""Generator specs in protocol configs: :mod:`sandwich.models.generation.spec`, where they
live so that elicitors (``icm`` in context) read them too."""

from __future__ import annotations

from sandwich.models.generation.spec import build_generator, check_spec, normalise_spec

__all__ = ["build_generator", "check_spec", "normalise_spec"]
