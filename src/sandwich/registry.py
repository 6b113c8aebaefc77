"""A typed registry per extension point: string keys, decorator registration.

Unknown names fail with the nearest registered names. A registered factory is
wrapped so that the object it builds remembers its construction arguments
(``spec_of(obj)``), so a result can name exactly what produced it.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sandwich.errors import UnknownNameError

T = TypeVar("T")

_SPEC_ATTR = "_sandwich_spec"


@dataclass(frozen=True)
class Spec:
    """The registry name and keyword arguments an object was built from."""

    kind: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "params": dict(self.params)}


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    factory: Callable[..., T]
    summary: str


class Registry(Generic[T]):
    """Name -> factory map for one extension point (tasks, models, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self, name: str, *, summary: str | None = None
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``factory`` (a class or function) under ``name``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            doc = summary or (inspect.getdoc(factory) or "").strip().splitlines()
            line = doc if isinstance(doc, str) else (doc[0] if doc else "")
            self._entries[name] = Entry(name, factory, line)
            return factory

        return decorate

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        near = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
        return (
            f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(self.names()) or '(none)'}"
        )

    def build(self, name: str, **params: Any) -> T:
        """Build the object registered under ``name`` and record its spec."""
        obj = self.entry(name).factory(**params)
        # objects without __dict__ (rare) simply carry no spec
        with contextlib.suppress(AttributeError, TypeError):
            object.__setattr__(obj, _SPEC_ATTR, Spec(self.kind, name, dict(params)))
        return obj


def spec_of(obj: object) -> Spec | None:
    """The :class:`Spec` an object was built from by a registry, if any."""
    return getattr(obj, _SPEC_ATTR, None)
