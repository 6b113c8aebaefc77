"""A typed registry per extension point: string keys, lazy entries, typed parameters.

An entry is either the factory itself (``@REGISTRY.register(name)``) or a
``"module:Object"`` string (``REGISTRY.lazy(name, target, summary)``) imported
on first use, so listing or validating names imports nothing heavy.

A factory may declare its parameters as a pydantic model: a ``Params`` class
attribute, or ``params=`` at registration (for function factories).
:meth:`Registry.build` then validates the given parameters against it (a bad
value fails naming the field), calls the factory with the validated values,
and records the *resolved* parameters (defaults included) in the object's
:class:`Spec`, together with the factory's code version (``VERSION``, default
1). Cache keys and results name a component by that spec, so changing a
default changes the key and writing a default out explicitly does not.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict

from sandwich.config import validate_params
from sandwich.errors import ConfigError, UnknownNameError

T = TypeVar("T")

_SPEC_ATTR = "_sandwich_spec"


@dataclass(frozen=True)
class Spec:
    """The registry name, resolved parameters and code version an object was built from."""

    kind: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Entry(Generic[T]):
    """One registered name: its factory (imported on first use), summary and parameters."""

    name: str
    target: Callable[..., T] | str
    summary: str
    declared_params: type[BaseModel] | None = None

    @property
    def factory(self) -> Callable[..., T]:
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            self.target = cast(Callable[..., T], getattr(importlib.import_module(module), attr))
        return self.target

    @property
    def params_model(self) -> type[BaseModel] | None:
        """The factory's pydantic parameter model, if it declares one."""
        if self.declared_params is not None:
            return self.declared_params
        model = getattr(self.factory, "Params", None)
        return model if isinstance(model, type) and issubclass(model, BaseModel) else None

    @property
    def version(self) -> int:
        return int(getattr(self.factory, "VERSION", 1))


class Registry(Generic[T]):
    """Name -> factory map for one extension point (tasks, models, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self,
        name: str,
        *,
        summary: str | None = None,
        params: type[BaseModel] | None = None,
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``factory`` (a class or function) under ``name``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            doc = (inspect.getdoc(factory) or "").strip().splitlines()
            self._add(Entry(name, factory, summary or (doc[0] if doc else ""), params))
            return factory

        return decorate

    def lazy(
        self, name: str, target: str, summary: str, *, params: type[BaseModel] | None = None
    ) -> None:
        """Register ``"module:Object"`` under ``name``; the module is imported on first use."""
        if ":" not in target:
            raise ValueError(
                f"{self.kind} {name!r}: target must be 'module:Object', got {target!r}"
            )
        self._add(Entry(name, target, summary, params))

    def _add(self, entry: Entry[T]) -> None:
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is registered twice")
        self._entries[entry.name] = entry

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

    def validate(self, name: str, params: dict[str, Any]) -> BaseModel | None:
        """``params`` checked against the entry's parameter model (None if it has none).

        Raises ConfigError naming each bad field (``lr: Input should be ...``).
        """
        model = self.entry(name).params_model
        return None if model is None else validate_params(model, params, f"{self.kind} {name!r}")

    def resolve(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters the object would be built with: defaults filled in.

        Without a parameter model the given parameters are returned as they are.
        """
        validated = self.validate(name, params)
        return dict(params) if validated is None else validated.model_dump(mode="json")

    def resolve_within(self, name: str, params: dict[str, Any], where: str) -> dict[str, Any]:
        """:meth:`resolve` inside the validator of a model that holds ``params`` (a loss's
        ``loss_params``, say): a bad value is a ValueError ``<where>: <problems>``, which
        pydantic reports under the holding model's field path."""
        try:
            return self.resolve(name, params)
        except ConfigError as exc:
            raise ValueError(f"{where}: {'; '.join(problem_lines(exc)) or exc}") from None

    def build(self, name: str, **params: Any) -> T:
        """Build the object registered under ``name`` and record its spec."""
        return self.build_with(name, params)

    def build_with(self, name: str, params: dict[str, Any], **runtime: Any) -> T:
        """Build ``name`` from ``params`` (validated, recorded in the spec) plus ``runtime``.

        ``runtime``: arguments that do not change what the object computes
        (an artifact store, a progress flag, a sleep function for tests); they
        are passed to the factory but are not parameters and not in the spec.
        """
        entry = self.entry(name)
        validated = self.validate(name, params)
        if validated is None:  # a factory without Params: its arguments as given
            obj, resolved = entry.factory(**params, **runtime), dict(params)
        else:
            fields = type(validated).model_fields
            values = {k: getattr(validated, k) for k in fields} | (validated.model_extra or {})
            obj = entry.factory(**values, **runtime)
            resolved = validated.model_dump(mode="json")
        # objects without __dict__ (rare) simply carry no spec
        with contextlib.suppress(AttributeError, TypeError):
            object.__setattr__(obj, _SPEC_ATTR, Spec(self.kind, name, resolved, entry.version))
        return obj


F = TypeVar("F", bound=Callable[..., Any])


class NoParams(BaseModel):
    """The Params of a factory without parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Configurable:
    """A component whose parameters are its ``Params`` model, declared once.

    ``__init__(**params)`` validates them into ``self.hparams`` (a bad value
    fails naming the field, also when the class is built directly); a
    subclass declares ``class Params(Strict)`` and ``hparams: Params`` and
    writes no constructor of its own.
    """

    Params: ClassVar[type[BaseModel]] = NoParams
    hparams: BaseModel

    def __init__(self, **params: Any) -> None:
        self.hparams = validate_params(self.Params, params, type(self).__name__)

    def get_params(self) -> dict[str, Any]:
        """The parameters this object was built with, defaults included (JSON-ready); for a
        subclass with a constructor of its own, those its registry recorded (if any)."""
        if "hparams" in vars(self):
            return self.hparams.model_dump(mode="json")
        return dict(spec.params) if (spec := spec_of(self)) else {}

    def resolved_params(self) -> dict[str, Any]:
        """:meth:`get_params` with every ``auto`` replaced by the value chosen, where it is
        known (a component with ``auto`` values overrides this); for results specs."""
        return self.get_params()


def takes(params: type[BaseModel]) -> Callable[[F], F]:
    """Declare the Params model of a function factory (a class declares a nested ``Params``)."""

    def decorate(fn: F) -> F:
        fn.Params = params  # type: ignore[attr-defined]
        return fn

    return decorate


def spec_of(obj: object) -> Spec | None:
    """The :class:`Spec` an object was built from by a registry, if any."""
    return getattr(obj, _SPEC_ATTR, None)


def param_problems(
    where: str, registry: Registry[Any], name: str, params: dict[str, Any]
) -> list[str]:
    """Config-load check of the config entry ``where`` naming ``registry[name]`` with
    ``params``: ``<where>.name: unknown ...``, or one line per bad parameter at
    ``<where>.params``.

    Only validates against the entry's Params model (nothing is built); every
    built-in factory declares one (tests/test_contract.py).
    """
    if name not in registry:
        return [f"{where}.name: {registry.unknown_message(name)}"]
    where = f"{where}.params"
    try:
        if registry.validate(name, params) is None:
            return [f"{where}: {registry.kind} {name!r} declares no Params model"]
    except ConfigError as exc:
        return [f"{where}: {line}" for line in problem_lines(exc)] or [f"{where}: {exc}"]
    return []


def problem_lines(exc: ConfigError) -> list[str]:
    """The problems a validation ConfigError lists, one per line below its first."""
    return [line.strip() for line in str(exc).splitlines()[1:]]


def example_params(model: type[BaseModel]) -> dict[str, Any]:
    """A documented example of ``model``'s parameters: its first ``json_schema_extra``
    example, or ``{}`` (every field has a default)."""
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    return dict(examples[0]) if isinstance(examples, list) and examples else {}  # type: ignore[arg-type]
