"""The generation-backend registry: ``local``, ``openai``, ``fake``, listed lazily.

Each backend's ``Params`` live in :mod:`sandwich.models.generation.config`
(with the config union), so validating a config imports no backend.
"""

from __future__ import annotations

from sandwich.models.generation.base import Generator
from sandwich.registry import Registry

GENERATORS: Registry[Generator] = Registry("generation backend")

_G = "sandwich.models.generation"
GENERATORS.lazy("fake", f"{_G}.fake:FakeGenerator", "scripted deterministic replies for tests")
GENERATORS.lazy("local", f"{_G}.local:LocalGenerator",
                "a registry model through transformers generate")  # fmt: skip
GENERATORS.lazy("openai", f"{_G}.openai_http:OpenAIGenerator",
                "any OpenAI-compatible server over HTTP (httpx)")  # fmt: skip
