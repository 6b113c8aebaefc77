"""Experiment kinds: what the engine needs of each (w2s, protocol, and the next ones).

A kind is one object registered in :data:`KINDS` (a lazy ``"module:Object"``
entry, so listing kinds imports nothing heavy). The engine
(:func:`sandwich.runs.runner.run`) asks every kind the config runs for its
cells (``plan``), lets it load what they share (``prepare``), maps
``run_cell`` over the cells with one executor, turns the outcomes into result
records (``summarise``), and builds the one report from the parts each kind
contributes (``report``, ``tables``). Adding a kind: its config fields in
:mod:`sandwich.runs.config`, its cell in :mod:`sandwich.runs.plan`, its
result records in :mod:`sandwich.runs.results`, one registration here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sandwich.registry import Registry

if TYPE_CHECKING:
    from rich.table import Table as RichTable

    from sandwich.report.page import KindReport
    from sandwich.runs.config import RunConfig
    from sandwich.runs.context import RunContext
    from sandwich.runs.results import (
        AnyCellResult,
        AnyGroupResult,
        ComparisonResult,
        Failure,
        RunResults,
    )


@dataclass
class Summary:
    """A kind's share of the results envelope."""

    cells: list[AnyCellResult]
    groups: list[AnyGroupResult] = field(default_factory=list)
    comparisons: list[ComparisonResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class ExperimentKind(Protocol):
    """The engine's view of one experiment kind."""

    name: str

    def plan(self, config: RunConfig) -> Sequence[Any]:
        """The kind's cells (plain pydantic data with ``kind`` = ``name``), in run order."""
        ...

    def prepare(self, ctx: RunContext, cells: Sequence[Any]) -> None:
        """Compute what the cells share before any runs (e.g. features, a model at a time)."""
        ...

    def run_cell(self, ctx: RunContext, cell: Any) -> Any:
        """One cell's outcome: a record ``summarise`` reads (cached through ``ctx.store``)."""
        ...

    def summarise(self, ctx: RunContext, outcomes: Sequence[Any]) -> Summary:
        """The outcomes of all the kind's cells as result records, groups and warnings."""
        ...

    def report(self, results: RunResults, run_dir: Path) -> KindReport:
        """The kind's sections of the report (and warnings it adds), from results alone."""
        ...

    def tables(self, results: RunResults) -> list[RichTable]:
        """What ``sandwich run`` prints for the kind."""
        ...


KINDS: Registry[ExperimentKind] = Registry("experiment kind")
KINDS.lazy(
    "w2s",
    "sandwich.runs.w2s.kind:W2SKind",
    "weak supervisor -> strong student: PGR against the student's ceiling",
)
KINDS.lazy(
    "protocol",
    "sandwich.runs.protocol:ProtocolKind",
    "a judge alone or assisted (consultancy, debate, critique): accuracy, gap closed",
)


@functools.cache
def kind_of(name: str) -> ExperimentKind:
    """The (stateless) kind object registered under ``name``."""
    return KINDS.build(name)
