"""The registry of experiment kinds: one :class:`KindSpec` per kind, light to import.

Each entry names its kind's two halves by ``"module:Object"`` strings, imported on
first use: the *schema* (a :class:`KindSchema`: pydantic models only — its config
section, its planned cell, its result records) and the *implementation* (the
object :mod:`sandwich.runs` calls: plan, prepare, run_cell, summarise, report, ...;
it may import torch). Listing kinds imports neither; parsing a results.json or a
config imports only the schemas of the kinds it names.

The registry lives in the results layer because a results.json is read by kind:
:class:`sandwich.results.RunResults` dispatches each cell and group on its
``kind`` to the model this registry names. Adding a kind is one package (its
schema and implementation modules) and one :func:`register_kind` line below
(or a call at run time: tests register kinds defined in the test module).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from sandwich.config import Strict
from sandwich.errors import UnknownNameError


class KindCell(Strict):
    """Base of every kind's planned cell: frozen pydantic data with ``kind`` = the kind's
    name (a subclass narrows it to a ``Literal``) and a human ``label``. Executors ship a
    cell as JSON; :data:`sandwich.runs.plan.Cell` validates it back by its ``kind``."""

    kind: str

    @property
    def label(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define label")


@dataclass(frozen=True)
class KindSchema:
    """The light half of a kind: what its config section, cells and results look like.

    ``cell``: its planned cell (a :class:`KindCell`). ``cell_result`` / ``group_result``:
    its entries of ``RunResults.cells`` / ``.groups`` (pydantic models with a field
    ``kind: Literal[<name>]``; no groups: None). ``section``: the model of its config
    section ``<name>: {...}`` (None for the two kinds with flat fields, w2s and
    protocol). ``check``: cross-field problems of a config running the kind, given
    (the RunConfig, its section), each a line starting with its path. ``tasks``: whether
    the kind reads the config's ``tasks`` (False for a kind whose section names its own
    data, as reward's preference tasks: a config of such kinds alone needs no ``tasks``).
    """

    cell: type[KindCell]
    cell_result: type[BaseModel]
    group_result: type[BaseModel] | None = None
    section: type[BaseModel] | None = None
    check: Callable[[Any, Any], list[str]] | None = None
    tasks: bool = True


@dataclass(frozen=True)
class KindSpec:
    """One registry entry. ``impl`` / ``schema``: ``"module:Object"`` (imported on first use)
    or the object itself. ``fields``: the flat top-level config fields of a legacy kind (it
    runs when any differs from its default); empty for a kind with a ``<name>:`` section."""

    name: str
    impl: str | Any
    schema: str | KindSchema
    summary: str
    fields: tuple[str, ...] = ()

    @property
    def config(self) -> str:
        """How a config asks for this kind (``sandwich kinds``' third column): its section,
        or its first flat fields."""
        if not self.fields:
            return f"{self.name}: {{...}}"
        return ", ".join(self.fields[:3]) + (", ..." if len(self.fields) > 3 else "")


def _load(target: str | Any) -> Any:
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass
class KindRegistry:
    """Kinds in registration order (the order a config runs them and results list them)."""

    _specs: dict[str, KindSpec] = field(default_factory=dict)
    _schemas: dict[str, KindSchema] = field(default_factory=dict)
    _impls: dict[str, Any] = field(default_factory=dict)

    def add(self, spec: KindSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"experiment kind {spec.name!r} is registered twice")
        self._specs[spec.name] = spec

    def remove(self, name: str) -> None:
        """Forget a kind registered at run time (and what was loaded for it)."""
        self.spec(name)
        for table in (self._specs, self._schemas, self._impls):
            table.pop(name, None)

    def names(self) -> list[str]:
        return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[KindSpec]:
        return iter(list(self._specs.values()))

    def spec(self, name: str) -> KindSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        return f"unknown experiment kind {name!r} (known kinds: {', '.join(self.names())})"

    def schema(self, name: str) -> KindSchema:
        """The kind's :class:`KindSchema`, imported on first use."""
        if name not in self._schemas:
            schema = _load(self.spec(name).schema)
            if not isinstance(schema, KindSchema):
                raise TypeError(f"experiment kind {name!r}: its schema is not a KindSchema")
            self._schemas[name] = schema
        return self._schemas[name]

    def impl(self, name: str) -> Any:
        """The kind's (stateless) implementation object; a class is instantiated once."""
        if name not in self._impls:
            target = _load(self.spec(name).impl)
            self._impls[name] = target() if isinstance(target, type) else target
        return self._impls[name]

    def sections(self) -> list[str]:
        """The kinds a config asks for by a ``<name>:`` section."""
        return [s.name for s in self._specs.values() if not s.fields]


KINDS = KindRegistry()


def register_kind(
    name: str, *, impl: str | Any, schema: str | KindSchema, summary: str,
    fields: tuple[str, ...] = (),
) -> KindSpec:  # fmt: skip
    """Register a kind (see the module docstring); returns its spec."""
    spec = KindSpec(name, impl, schema, summary, fields)
    KINDS.add(spec)
    return spec


register_kind(
    "w2s",
    impl="sandwich.runs.w2s.kind:W2SKind",
    schema="sandwich.runs.w2s_schema:W2S_SCHEMA",
    summary="weak -> strong student: PGR vs the ceiling",
    fields=("weak", "strong", "elicitors"),
)
register_kind(
    "protocol",
    impl="sandwich.runs.protocol:ProtocolKind",
    schema="sandwich.runs.protocol_schema:PROTOCOL_SCHEMA",
    summary="a judge alone or assisted",
    fields=("protocols", "judge", "assistant", "judging", "generation", "max_items",
            "batch_size", "transcripts_in_report"),
)  # fmt: skip
register_kind(
    "honesty",
    impl="sandwich.runs.honesty.kind:HonestyKind",
    schema="sandwich.runs.honesty.schema:HONESTY_SCHEMA",
    summary="sycophancy of generation models: alone, suggested, challenged",
)
register_kind(
    "sandbagging",
    impl="sandwich.runs.sandbagging.kind:SandbaggingKind",
    schema="sandwich.runs.sandbagging.schema:SANDBAGGING_SCHEMA",
    summary="a password-locked model: PGR of recovering it from weak labels",
)
register_kind(
    "truth",
    impl="sandwich.runs.truth.kind:TruthKind",
    schema="sandwich.runs.truth.schema:TRUTH_SCHEMA",
    summary="lie detectors: train task x test task AUROC, per layer",
)
register_kind(
    "reward",
    impl="sandwich.runs.reward.kind:RewardKind",
    schema="sandwich.runs.reward.schema:REWARD_SCHEMA",
    summary="reward models on weak preferences: pairwise PGR, best-of-n over-optimisation",
)
