"""Generation backends behind one batched interface, with a response cache.

``make_generator(generator_config(...))`` builds the backend the config names
(``local``, ``openai``, ``fake``) and, unless ``cache: false``, wraps it in a
:class:`CachedGenerator` over the SQLite response cache. See docs/generation.md.
"""

from __future__ import annotations

from typing import Any

from sandwich.models.generation.base import (
    ChoiceRequest,
    Generator,
    GenRequest,
    GenResult,
    Message,
)
from sandwich.models.generation.cache import MissExplanation, ResponseCache, default_cache_path
from sandwich.models.generation.cached import CachedGenerator
from sandwich.models.generation.config import (
    FakeConfig,
    GeneratorConfig,
    LocalConfig,
    OpenAIConfig,
    backend_params,
    generator_config,
)
from sandwich.models.generation.fake import FakeGenerator
from sandwich.models.generation.keys import cache_key, key_fields
from sandwich.models.generation.registry import GENERATORS

__all__ = [
    "GENERATORS",
    "CachedGenerator",
    "ChoiceRequest",
    "FakeConfig",
    "FakeGenerator",
    "GenRequest",
    "GenResult",
    "Generator",
    "GeneratorConfig",
    "LocalConfig",
    "Message",
    "MissExplanation",
    "OpenAIConfig",
    "ResponseCache",
    "cache_key",
    "default_cache_path",
    "generator_config",
    "key_fields",
    "make_generator",
]


def make_generator(
    cfg: GeneratorConfig,
    *,
    cache: ResponseCache | None = None,
    **backend_kwargs: Any,
) -> Generator:
    """The backend ``cfg`` names, behind the response cache unless ``cfg.cache`` is false.

    ``cache``: an open ResponseCache to share (default: one at ``cfg.cache_path`` or
    ``$SANDWICH_HOME/generation.sqlite``). ``backend_kwargs`` go to the backend
    (runtime arguments, not parameters: ``store=`` and ``progress=`` for local,
    ``sleep=`` for openai).
    """
    inner = GENERATORS.build_with(cfg.backend, backend_params(cfg), **backend_kwargs)
    if not cfg.cache:
        return inner
    return CachedGenerator(inner, cache if cache is not None else ResponseCache(cfg.cache_path))
