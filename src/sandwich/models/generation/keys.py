"""Response-cache keys: everything that determines a response, as canonical JSON.

A key is the sha256 of ``{"version", "backend": Generator.describe(), "request": fields}``
where ``fields`` lists every generation parameter, the messages and the seed.
``describe()`` never holds secrets (API keys are read from the environment at call
time), so neither do keys nor the cache file.
"""

from __future__ import annotations

from typing import Any

from sandwich.models.generation.base import ChoiceRequest, GenRequest
from sandwich.store.hashing import canonical_json, digest

KEY_VERSION = 1


def request_fields(request: GenRequest | ChoiceRequest) -> dict[str, Any]:
    """Every field of a request that can change its response, as JSON-able values."""
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    if isinstance(request, ChoiceRequest):
        return {"kind": "choices", "messages": messages, "choices": list(request.choices)}
    return {
        "kind": "generate",
        "messages": messages,
        "max_new_tokens": request.max_new_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "stop": list(request.stop),
        "logprobs": request.logprobs,
    }


def key_fields(backend: dict[str, Any], request: GenRequest | ChoiceRequest) -> dict[str, Any]:
    """The JSON a cache key is the hash of (stored with each entry, for explain)."""
    return {"version": KEY_VERSION, "backend": backend, "request": request_fields(request)}


def key_of_fields(fields: dict[str, Any]) -> str:
    return digest(fields)


def cache_key(backend: dict[str, Any], request: GenRequest | ChoiceRequest) -> str:
    return key_of_fields(key_fields(backend, request))


def uncacheable_reason(request: GenRequest | ChoiceRequest) -> str | None:
    """Why a request must not be cached (None if it may): sampled without a seed."""
    if isinstance(request, GenRequest) and request.temperature > 0 and request.seed is None:
        return (
            f"sampled (temperature={request.temperature}) without a seed: every call may "
            "differ, so it is never cached; set a seed to make it reproducible and cacheable"
        )
    return None


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Dotted paths to leaf values (as canonical JSON), for field-by-field comparison."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: "{}"}
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out or {prefix: "[]"}
    return {prefix: canonical_json(value)}
