"""Errors a user can act on: what was wrong, where, and what to do."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class SandwichError(Exception):
    """Base class of every error sandwich raises on purpose.

    The CLI prints the message (no traceback) and exits with ``exit_code``.
    """

    exit_code = 1


class ConfigError(SandwichError):
    """A config, CLI option or input file is invalid (exit code 2)."""

    exit_code = 2


class UnknownNameError(ConfigError, KeyError):
    """A name was looked up in a registry and not found."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class InputFileError(ConfigError):
    """A user data file is malformed; the message names the file and line."""

    def __init__(self, path: object, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class OfflineError(SandwichError):
    """Something needed the network and sandwich runs offline by default."""


def required(value: T | None, what: str, error: type[Exception] = RuntimeError) -> T:
    """``value``, narrowed to not None; else ``error`` naming ``what``. Unlike
    ``assert value is not None`` it still checks under ``python -O``."""
    if value is None:
        raise error(f"{what} is missing (None)")
    return value
