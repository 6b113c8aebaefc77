"""Generator specs in protocol configs, resolved through the generation backends' factory.

A spec is a model name (shorthand for the ``local`` backend) or a mapping of
``GeneratorConfig`` fields (``backend``, ``model``, ``base_url``,
``api_key_env``, ...; see docs/generation.md). Validation and construction
are delegated to :mod:`sandwich.models.generation`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sandwich.errors import ConfigError
from sandwich.models.generation.base import Generator
from sandwich.store.hashing import digest


def normalise_spec(spec: Any) -> dict[str, Any]:
    """A bare model name means the local backend."""
    if isinstance(spec, str):
        return {"backend": "local", "model": spec}
    if isinstance(spec, dict):
        return dict(spec)
    raise ValueError(f"expected a model name or a generator mapping, got {spec!r}")


def check_spec(spec: dict[str, Any]) -> list[str]:
    """Problems with a spec, each prefixed by its field name (empty if fine)."""
    from sandwich.models.generation import GeneratorConfig

    try:
        cfg = GeneratorConfig.model_validate(spec)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(spec)"
            problems.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
        return problems
    model = getattr(cfg, "model", None)
    if getattr(cfg, "backend", None) == "local" and isinstance(model, str):
        from sandwich.models.names import check_model_name

        if (msg := check_model_name(model)) is not None:
            return [f"model: {msg}"]
    return []


_BUILT: dict[str, Generator] = {}


def build_generator(spec: dict[str, Any]) -> Generator:
    """The Generator a spec names (behind the response cache, as the factory sets it up).

    Built once per process and spec, so supervisors of several cells share one
    loaded model.
    """
    from sandwich.config import format_validation_error
    from sandwich.models.generation import GeneratorConfig, default_cache_path, make_generator

    key = digest([spec, str(default_cache_path())])  # a new SANDWICH_HOME: a new cache
    if key not in _BUILT:
        try:
            cfg = GeneratorConfig.model_validate(spec)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"generator {spec!r}")) from None
        _BUILT[key] = make_generator(cfg)
    return _BUILT[key]
