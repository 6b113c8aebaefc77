"""Config plumbing shared by every layer: YAML reading, validation, error messages.

It sits below tasks, models, supervision, protocols, feedback and runs, and
imports none of them, so any layer's config schema can use it without an
import cycle. Every user document (run config, study config) is read with
:func:`read_yaml` and validated with :func:`validate_document`, so a bad file
always fails the same way: one line per bad field, each starting with its path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from sandwich.errors import ConfigError, UnknownNameError

_M = TypeVar("_M", bound=BaseModel)


class Strict(BaseModel):
    """Base of every config model: unknown fields are errors and values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# bound and type errors: the message says what is allowed, the value says what was given
_SHOW_INPUT = {
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "int_parsing",
    "int_from_float", "float_parsing", "bool_parsing", "string_too_short", "multiple_of",
}  # fmt: skip


def format_validation_error(exc: ValidationError, source: str, what: str = "config") -> str:
    """One line per bad field, each starting with its path; ``what`` names the document."""
    lines = [f"{source}: invalid {what}"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "literal_error" and "expected" in err.get("ctx", {}):
            msg = f"{msg} (allowed: {err['ctx']['expected']})"
        elif err["type"] in _SHOW_INPUT and isinstance(err.get("input"), int | float | str):
            msg = f"{msg}, got {err['input']!r}"
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        for line in msg.splitlines():
            # model-level checks already start their lines with the field path
            lines.append(f"  {line}" if not err["loc"] else f"  {path}: {line}")
    return "\n".join(lines)


def validate_params(model: type[_M], params: dict[str, Any], source: str) -> _M:
    """``params`` as ``model`` (a component's Params); ConfigError naming each bad field,
    and for an unknown one the fields there are."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        msg = format_validation_error(exc, source, "parameters")
        if any(e["type"] == "extra_forbidden" for e in exc.errors()):
            msg += f"\n  its parameters: {', '.join(model.model_fields) or '(none)'}"
        raise ConfigError(msg) from None


def validate_document(model: type[_M], data: Any, source: str, what: str = "config") -> _M:
    """Validate a YAML document as ``model``; raise ConfigError naming every bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a {what} must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, what)) from None
    except UnknownNameError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def read_yaml(path: str | Path, what: str = "config") -> Any:
    """The YAML document in ``path``.

    An unreadable file or malformed YAML raises ConfigError naming the file
    (and ``file:line:column`` for YAML errors).
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None


def as_list(v: Any) -> Any:
    """A YAML shorthand: one string or mapping stands for a list of one."""
    return [v] if isinstance(v, str | dict) else v


def check_unique(field: str, labels: list[str], problems: list[str]) -> None:
    """Append a problem for every label of ``field`` that appears a second time."""
    seen = set()
    for i, label in enumerate(labels):
        if label in seen:
            problems.append(f"{field}.{i}: {label!r} appears twice (give each a distinct label)")
        seen.add(label)


def env_int(name: str, default: int, minimum: int, unit: str) -> int:
    """The integer in environment variable ``name`` (``default`` when unset or blank),
    refused with a :class:`ConfigError` naming the variable when it is not a number of
    ``unit`` or is below ``minimum``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of {unit}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum} {unit}, got {value}")
    return value
