"""GeneratorConfig: the schema (YAML, CLI, results) that names a generation backend.

One pydantic model per backend, discriminated by ``backend``: each is the
backend's own ``Params`` (what its factory takes, typed and documented) plus
the response-cache settings every backend shares. A field one backend does
not take (``base_url`` for ``local``, say) is an unknown field of that
backend's config, so it fails naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, TypeAdapter, field_validator

from sandwich.config import Strict

PromptFormat = Literal["auto", "chat", "plain"]


class LocalParams(Strict):
    """``local``: a registry model, a local HF directory or a hub id, through transformers
    ``generate``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"model": "smollm2-135m"}]})

    model: str = Field(min_length=1, description="registry name, HF directory or hub id")
    batch_size: int = Field(8, ge=1, description="prompts per generate() call")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="weights' dtype")
    prompt_format: PromptFormat = Field(
        "auto",
        description="chat (the tokenizer's chat template), plain (message texts joined by blank "
        "lines, for base models), auto (plain for known base models, else chat if the "
        "tokenizer has a template)",
    )


class OpenAIParams(Strict):
    """``openai``: any OpenAI-compatible server over HTTP; the key is read from the
    environment variable named ``api_key_env`` (never from the config, never written)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"model": "m", "base_url": "http://127.0.0.1:8000/v1"}]}
    )

    model: str = Field(min_length=1, description="the model id the server knows")
    base_url: str = Field(description="the server's /v1 URL, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str | None = Field(None, description="name of the env var holding the API key")
    concurrency: int = Field(4, ge=1, le=256, description="requests in flight")
    timeout: float = Field(60.0, gt=0, description="seconds per HTTP request")
    max_retries: int = Field(
        3, ge=0, le=20, description="retries after a timeout, 5xx, 429 or bad JSON"
    )
    backoff: float = Field(0.5, ge=0, description="first backoff in seconds (doubles, jitter)")
    backoff_max: float = Field(8.0, ge=0, description="longest single backoff")
    top_logprobs: int = Field(20, ge=1, le=20, description="alternatives read for score_choices")
    endpoint: Literal["chat", "completions"] = Field(
        "chat",
        description="chat: /chat/completions (the server applies the model's chat template); "
        "completions: /completions, the message texts joined by blank lines as the prompt "
        "(a base model, as the local backend's prompt_format plain)",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"{url!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials; put the key in api_key_env")
        return url

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not name.replace("_", "").isalnum():
            raise ValueError(
                f"must be the NAME of an environment variable (letters, digits, _), got "
                f"{name!r}; never put the key itself in a config"
            )
        return name


class FakeParams(Strict):
    """``fake``: scripted deterministic replies for tests (no model, no network)."""

    model: str = Field("fake", min_length=1, description="a free label")
    rules: dict[str, str] = Field(
        default_factory=dict, description="substring -> reply; the first match answers"
    )
    default: str | None = Field(None, description="reply when no rule matches (else a hash)")
    fail_on: tuple[str, ...] = Field((), description="substrings whose requests fail")
    can_score: bool = Field(True, description="False: score_choices returns None")


class _Cache(Strict):
    cache: bool = Field(True, description="use the response cache")
    cache_path: Path | None = Field(
        None, description="response cache file (default $SANDWICH_HOME/generation.sqlite)"
    )


class LocalConfig(LocalParams, _Cache):
    backend: Literal["local"]


class OpenAIConfig(OpenAIParams, _Cache):
    backend: Literal["openai"]


class FakeConfig(FakeParams, _Cache):
    backend: Literal["fake"]


GeneratorConfig = Annotated[LocalConfig | OpenAIConfig | FakeConfig, Field(discriminator="backend")]
"""Which backend generates text, and how: a union discriminated by ``backend``."""

GENERATOR_CONFIG: TypeAdapter[LocalConfig | OpenAIConfig | FakeConfig] = TypeAdapter(
    GeneratorConfig
)


def generator_config(spec: Mapping[str, Any] | None = None, **fields: Any) -> GeneratorConfig:
    """The config a mapping (or keyword fields) describes; ValidationError naming the field."""
    return GENERATOR_CONFIG.validate_python({**(spec or {}), **fields})


def backend_params(cfg: GeneratorConfig) -> dict[str, Any]:
    """The backend's own parameters in ``cfg`` (without ``backend`` and the cache settings)."""
    return {k: getattr(cfg, k) for k in type(cfg).model_fields if k not in _SHARED}


_SHARED = {"backend", *_Cache.model_fields}
