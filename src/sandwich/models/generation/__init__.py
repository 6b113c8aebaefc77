"""Generation backends behind one batched interface, with a response cache.

``make_generator(GeneratorConfig(...))`` builds the backend the config names
(``local``, ``openai``, ``fake``) and, unless ``cache: false``, wraps it in a
:class:`CachedGenerator` over the SQLite response cache. See docs/generation.md.
"""

from __future__ import annotations

from typing import Any

from sandwich.models.generation import fake as _fake  # noqa: F401  (registers "fake")
from sandwich.models.generation import local as _local  # noqa: F401  (registers "local")
from sandwich.models.generation import openai_http as _openai  # noqa: F401  (registers "openai")
from sandwich.models.generation.base import (
    ChoiceRequest,
    Generator,
    GenRequest,
    GenResult,
    Message,
)
from sandwich.models.generation.cache import MissExplanation, ResponseCache, default_cache_path
from sandwich.models.generation.cached import CachedGenerator
from sandwich.models.generation.config import GeneratorConfig
from sandwich.models.generation.fake import FakeGenerator
from sandwich.models.generation.keys import cache_key, key_fields
from sandwich.models.generation.registry import GENERATORS

__all__ = [
    "GENERATORS",
    "CachedGenerator",
    "ChoiceRequest",
    "FakeGenerator",
    "GenRequest",
    "GenResult",
    "Generator",
    "GeneratorConfig",
    "Message",
    "MissExplanation",
    "ResponseCache",
    "cache_key",
    "default_cache_path",
    "key_fields",
    "make_generator",
]


def backend_params(cfg: GeneratorConfig) -> dict[str, Any]:
    """The keyword arguments of the backend's factory that the config sets."""
    if cfg.backend == "openai":
        return {
            "model": cfg.model,
            "base_url": cfg.base_url,
            "api_key_env": cfg.api_key_env,
            "concurrency": cfg.concurrency,
            "timeout": cfg.timeout,
            "max_retries": cfg.max_retries,
            "backoff": cfg.backoff,
            "backoff_max": cfg.backoff_max,
            "top_logprobs": cfg.top_logprobs,
        }
    if cfg.backend == "local":
        return {
            "model": cfg.model,
            "batch_size": cfg.batch_size,
            "dtype": cfg.dtype,
            "prompt_format": cfg.prompt_format,
        }
    return {"model": cfg.model}


def make_generator(
    cfg: GeneratorConfig,
    *,
    cache: ResponseCache | None = None,
    **backend_kwargs: Any,
) -> Generator:
    """The backend ``cfg`` names, behind the response cache unless ``cfg.cache`` is false.

    ``cache``: an open ResponseCache to share (default: one at ``cfg.cache_path`` or
    ``$SANDWICH_HOME/generation.sqlite``). ``backend_kwargs`` go to the backend
    (e.g. ``store=`` and ``progress=`` for local, ``rules=`` for fake).
    """
    inner = GENERATORS.build(cfg.backend, **backend_params(cfg), **backend_kwargs)
    if not cfg.cache:
        return inner
    return CachedGenerator(inner, cache if cache is not None else ResponseCache(cfg.cache_path))
