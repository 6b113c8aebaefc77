"""GeneratorConfig: the one schema (YAML, CLI, results) that names a generation backend."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Backend = Literal["local", "openai", "fake"]
PromptFormat = Literal["auto", "chat", "plain"]


class GeneratorConfig(BaseModel):
    """Which backend generates text, and how.

    ``local``: ``model`` is a registry name (``smollm2-135m``, ``gemma3-270m``), a local
    HF directory or a hub id, run through transformers ``generate``.
    ``openai``: ``model`` is the model id the server knows; ``base_url`` its ``/v1`` URL;
    the API key is read from the environment variable named ``api_key_env`` (never
    from the config itself, never written anywhere).
    ``fake``: a scripted deterministic backend for tests (``model`` is a free label).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend = Field(description="local | openai | fake")
    model: str = Field(min_length=1, description="registry name, directory, or server model id")
    base_url: str | None = Field(
        default=None, description="openai: server base URL, e.g. http://127.0.0.1:8000/v1"
    )
    api_key_env: str | None = Field(
        default=None, description="openai: name of the env var holding the API key"
    )
    concurrency: int = Field(default=4, ge=1, le=256, description="openai: requests in flight")
    timeout: float = Field(default=60.0, gt=0, description="openai: seconds per HTTP request")
    max_retries: int = Field(
        default=3, ge=0, le=20, description="openai: retries after a timeout, 5xx, 429 or bad JSON"
    )
    backoff: float = Field(
        default=0.5, ge=0, description="openai: first backoff in seconds (doubles, with jitter)"
    )
    backoff_max: float = Field(default=8.0, ge=0, description="openai: longest single backoff")
    top_logprobs: int = Field(
        default=20, ge=1, le=20, description="openai: alternatives read for score_choices"
    )
    batch_size: int = Field(default=8, ge=1, description="local: prompts per generate() call")
    dtype: Literal["float32", "bfloat16"] = Field(default="float32", description="local")
    prompt_format: PromptFormat = Field(
        default="auto",
        description="local: chat (the tokenizer's chat template), plain (message texts joined "
        "by blank lines, for base models), auto (plain for known base models, else chat if "
        "the tokenizer has a template)",
    )
    cache: bool = Field(default=True, description="use the response cache")
    cache_path: Path | None = Field(
        default=None, description="response cache file (default $SANDWICH_HOME/generation.sqlite)"
    )

    @model_validator(mode="after")
    def _check(self) -> GeneratorConfig:
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend 'openai' needs base_url (e.g. http://127.0.0.1:8000/v1)")
        if self.backend != "openai" and self.base_url:
            raise ValueError(f"base_url is only used by backend 'openai', not {self.backend!r}")
        if self.api_key_env is not None and not self.api_key_env.replace("_", "").isalnum():
            raise ValueError(
                f"api_key_env must be the NAME of an environment variable (letters, digits, _), "
                f"got {self.api_key_env!r}; never put the key itself in a config"
            )
        return self
