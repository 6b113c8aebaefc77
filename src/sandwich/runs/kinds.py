"""Experiment kinds: what the engine needs of each (w2s, protocol, and the next ones).

A kind is one entry of :data:`KINDS` (:mod:`sandwich.results.kinds`, re-exported
here): a light *schema* (its config section, cell and result models: pydantic
only) and an *implementation* satisfying :class:`ExperimentKind`, both lazy
``"module:Object"`` strings, so listing kinds imports nothing heavy.
:func:`sandwich.runs.run` asks every kind the config runs for its cells, lets it
``prepare`` what they share, maps ``run_cell`` over all cells with one executor
(asking each kind a cell's ``resources``, streaming each landed outcome's
``cell_record`` into the run directory), turns each kind's outcomes into result
records (``summarise``) and builds one report from each kind's part. A new kind
is one package (schema + implementation) and one :func:`register_kind` entry; no
core module changes (docs/architecture.md, "Adding an experiment kind").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sandwich.results.kinds import KINDS as KINDS
from sandwich.results.kinds import KindCell as KindCell
from sandwich.results.kinds import KindSchema as KindSchema
from sandwich.results.kinds import KindSpec as KindSpec
from sandwich.results.kinds import register_kind as register_kind

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.table import Table as RichTable

    from sandwich.report.page import KindReport
    from sandwich.results import ComparisonResult, Failure, RunResults
    from sandwich.runs.config import RunConfig
    from sandwich.runs.context import RunContext
    from sandwich.store import ArtifactKey


@dataclass
class Summary:
    """A kind's share of the results envelope."""

    cells: list[BaseModel]  # the kind's cell_result records
    groups: list[BaseModel] = field(default_factory=list)
    comparisons: list[ComparisonResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


Op = Literal["forward", "train", "generate", "load", "probe", "logconf", "fit", "bootstrap",
             "detect", "read", "items"]  # fmt: skip
# work that runs no model: it holds no weights or activations (``memory_bytes`` is 0)
MODEL_FREE_OPS: frozenset[Op] = frozenset(
    {"probe", "logconf", "fit", "bootstrap", "detect", "read", "items"}
)


@dataclass(frozen=True)
class Work:
    """One piece of a stage's computation, in the cost model's terms (``sandwich.runs.cost``).

    ``forward``: ``model`` reads ``tokens`` tokens up to ``depth`` (a fraction of its blocks);
    ``train``: ``passes`` epochs over ``tokens`` (``params``: mode, top_k, checkpointing);
    ``generate``: ``items`` sequences of ``tokens`` prompt tokens, ``new_tokens`` each;
    ``probe`` / ``logconf``: a probe fit on ``items`` rows of ``params["dim"]`` features;
    ``fit``: another solver's fit (``params["solver"]``: ``bt``, ``mass-mean``, ``crc``,
    ``ccs``) on ``items`` rows; ``detect``: truth's detection metrics of ``items`` test
    items, bootstrapped; ``read``: ``items`` stored artifacts of ``params["bytes"]`` in all;
    ``load``: reading ``model``'s weights; ``bootstrap``: ``params["n_boot"]`` resamples of
    ``items``; ``items``: per-item bookkeeping.
    """

    op: Op
    model: str | None = None
    tokens: int = 0
    items: int = 0
    passes: float = 1.0
    depth: float = 1.0
    new_tokens: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StagePlan:
    """One stage as ``sandwich plan`` sees it, before anything runs.

    ``cell``: the index of its cell among the kind's cells, None for a stage the
    cells share (features). ``key``: its artifact key, built by the same
    function the stage uses; None when the key depends on the content of an
    upstream artifact that is not stored yet (``unknown`` says which): such a
    stage is missing by construction. A stage that is no artifact (``cached``
    False) runs every time.
    """

    stage: str
    cell: int | None
    key: ArtifactKey | None
    work: tuple[Work, ...]
    unknown: str | None = None
    models: tuple[str, ...] = ()  # models it trains (for the memory estimate)
    cached: bool = True  # False: not an artifact, it runs every time (the bootstrap)


class ExperimentKind(Protocol):
    """The engine's view of one kind; cells are pydantic data with ``kind`` = ``name``."""

    name: str

    def plan(self, config: RunConfig) -> Sequence[Any]: ...
    def prepare(self, ctx: RunContext, cells: Sequence[Any]) -> None: ...
    def run_cell(self, ctx: RunContext, cell: Any) -> Any: ...
    def resources(self, config: RunConfig, cell: Any) -> dict[str, float]: ...
    def cell_record(self, ctx: RunContext, outcome: Any) -> dict[str, Any]: ...
    def summarise(self, ctx: RunContext, outcomes: Sequence[Any]) -> Summary: ...
    def report(self, results: RunResults, run_dir: Path) -> KindReport: ...
    def tables(self, results: RunResults) -> list[RichTable]: ...
    def stages(self, ctx: RunContext, cells: Sequence[Any]) -> list[StagePlan]:
        """Every stage of ``cells`` with its artifact key and cost inputs, nothing run."""
        ...


def stage_resources(config: RunConfig, stage: str) -> dict[str, float]:
    """What one task of stage class ``stage`` (``features``, ``probe``, ``finetune``,
    ``generation``) asks an executor for: one CPU; one GPU too for all but probes when
    ``executor.use_gpu``; ``executor.resources[stage]`` overrides both."""
    ex = config.executor
    default = {"CPU": 1.0}
    if ex.use_gpu and stage != "probe":
        default["GPU"] = 1.0
    return {**default, **ex.resources.get(stage, {})}


def kind_of(name: str) -> ExperimentKind:
    """The (stateless) implementation object of kind ``name``, built once."""
    impl: ExperimentKind = KINDS.impl(name)
    return impl
