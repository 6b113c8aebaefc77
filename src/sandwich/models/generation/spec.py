"""Generator specs in configs (protocols, reward and honesty kinds, ``icm``'s in-context
predictor), resolved through the generation backends' factory.

A spec is a model name (shorthand for the ``local`` backend) or a mapping of
fields of the backend's config (``backend``, ``model``, ``base_url``,
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
    from sandwich.models.generation.config import generator_config

    try:
        cfg = generator_config(spec)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = e["loc"][1:] if e["loc"] and e["loc"][0] in _BACKENDS else e["loc"]
            where = ".".join(str(p) for p in loc) or "backend"
            msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"]
            if e["type"] == "union_tag_invalid":  # an unknown backend
                msg = f"Input should be 'local', 'openai' or 'fake', got {e['ctx']['tag']!r}"
            problems.append(f"{where}: {msg.removeprefix('Value error, ')}")
        return problems
    if cfg.backend == "local":
        from sandwich.models.names import check_model_name

        if (problem := check_model_name(cfg.model)) is not None:
            return [f"model: {problem}"]
    return []


_BACKENDS = ("local", "openai", "fake")  # the config union's tags
_BUILT: dict[str, Generator] = {}


def build_generator(spec: dict[str, Any]) -> Generator:
    """The Generator a spec names (behind the response cache, as the factory sets it up).

    Built once per process and spec, so supervisors of several cells share one
    loaded model.
    """
    from sandwich.models.generation import default_cache_path, generator_config, make_generator

    key = digest([spec, str(default_cache_path())])  # a new SANDWICH_HOME: a new cache
    if key not in _BUILT:
        if problems := check_spec(spec):
            lines = "".join(f"\n  {p}" for p in problems)
            raise ConfigError(f"generator {spec!r}: invalid config{lines}")
        _BUILT[key] = make_generator(generator_config(spec))
    return _BUILT[key]
