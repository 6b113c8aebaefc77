"""The results.json schema (pydantic): one envelope for every experiment kind.

:class:`RunResults` holds one entry per cell and per group; each is validated
by its ``kind`` as the model that kind registered
(:data:`sandwich.results.kinds.KINDS`: ``w2s``: :class:`CellResult`,
:class:`GroupResult`; ``protocol``: :class:`ProtocolRow`,
:class:`SeedAggregate`; a kind registered later: its own). ``schema_version``
changes whenever a field changes meaning or is removed; :func:`parse_results`
reads every earlier file (version 1 of the w2s results, and the protocol
results the former protocol runner wrote). For w2s cells: accuracies are
fractions in [0, 1]; every ``*_ci`` is a (low, high) 95% interval: for a cell
a paired bootstrap over its test items; for a group the method its
``ci_method`` names (over seeds, or within the one seed). See
``sandwich.metrics.pgr_ci`` and docs/results.md.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    SerializationInfo,
)

from sandwich.protocols.results import FEW_SEEDS as FEW_SEEDS
from sandwich.protocols.results import FLAG_FEW_SEEDS, Failure, ProtocolRow, SeedAggregate
from sandwich.protocols.results import FLAG_SMALL_GAP as FLAG_SMALL_GAP
from sandwich.protocols.results import BinRecord as BinRecord
from sandwich.results.kinds import KINDS
from sandwich.tasks.config import TaskConfig

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 2  # 2: one envelope for every kind (cells and groups carry ``kind``)

# w2s flags a cell (or a group) can carry; small_gap and few_seeds are shared
FLAG_SMALL_TEST = "small_test"  # too few test items for a meaningful CI
FLAG_ORACLE = "oracle"  # gold labels of B or T were used (diagnostic only)
FLAG_SINGLE_SEED = "single_seed"  # group of one seed: within-seed interval, no seed variance
FLAG_UNBOUNDED_CI = "unbounded_ci"  # PGR's confidence set is unbounded: pgr_ci is null
# flags that describe how an interval was made, not a problem with the numbers
INFO_FLAGS = frozenset({FLAG_SINGLE_SEED, FLAG_FEW_SEEDS})

# ci_method of groups written before the field existed
LEGACY_GROUP_CI = "two-level bootstrap over seeds and test items (older sandwich)"


def _nan_to_none(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


# A number that can be undefined (PGR with a zero gap, AUROC on one class):
# JSON null, never NaN, so results.json stays strict JSON.
MaybeFloat = Annotated[float | None, BeforeValidator(_nan_to_none)]
Interval = tuple[MaybeFloat, MaybeFloat]


class CellResult(BaseModel):
    """The measurements of one (task, weak, strong, elicitor, seed) cell."""

    kind: Literal["w2s"] = "w2s"
    task: str = Field(description="task name")
    weak: str = Field(description="weak supervisor name (a model name or a supervisor)")
    strong: str = Field(description="strong model name")
    elicitor: str = Field(description="elicitor name")
    seed: int
    n_train_weak: int = Field(description="items in A, the weak supervisor's gold training set")
    n_train_strong: int = Field(description="items in B, labelled by the weak supervisor")
    n_test: int = Field(description="items in T, where everything is scored")
    weak_acc: float = Field(description="the weak supervisor's accuracy on T")
    weak_acc_ci: Interval
    ceiling_acc: float = Field(description="strong model's probe trained on B gold, on T")
    ceiling_acc_ci: Interval
    student_acc: float = Field(description="the elicitor trained on B weak labels, on T")
    student_acc_ci: Interval
    pgr: MaybeFloat = Field(description="(student - weak) / (ceiling - weak); null if equal")
    pgr_ci: Interval
    gap: float = Field(description="ceiling_acc - weak_acc")
    gap_ci: Interval
    student_auroc: MaybeFloat
    ceiling_auroc: MaybeFloat
    weak_auroc: MaybeFloat
    agreement: float = Field(description="share of T where student and supervisor agree")
    agreement_on_weak_errors: float | None = Field(
        description="agreement on the T items the supervisor got wrong (imitation of its errors)"
    )
    weak_label_acc_train_strong: float = Field(
        description="accuracy of the supervisor's labels on B "
        "(a diagnostic; never shown to the student)"
    )
    student_ece: float
    weak_ece: float
    student_reliability: list[BinRecord] | None = Field(
        None,
        description="the student's reliability bins on T (10 equal-width; null in older results)",
    )
    ceiling_reliability: list[BinRecord] | None = Field(
        None, description="the ceiling's reliability bins on T (null in older results)"
    )
    weak_reliability: list[BinRecord] | None = Field(
        None, description="the weak supervisor's reliability bins on T (null in older results)"
    )
    flags: list[str] = Field(default_factory=list)
    specs: dict[str, Any] = Field(
        default_factory=dict, description="construction arguments of what produced this cell"
    )
    seconds: float = Field(0.0, description="wall time spent computing this cell (0 if cached)")


class GroupResult(BaseModel):
    """One (task, weak, strong, elicitor) combination aggregated over its seeds."""

    kind: Literal["w2s"] = "w2s"
    task: str
    weak: str
    strong: str
    elicitor: str
    seeds: list[int]
    n_test: int = Field(description="test items per seed")
    weak_acc: float
    weak_acc_ci: Interval
    ceiling_acc: float
    ceiling_acc_ci: Interval
    student_acc: float
    student_acc_ci: Interval
    gap: float = Field(description="ceiling_acc - weak_acc")
    gap_ci: Interval
    pgr: MaybeFloat = Field(description="PGR of the seed-averaged accuracies")
    pgr_ci: Interval = Field(
        description="95% interval of PGR by ci_method; (null, null) when the confidence "
        "set is unbounded (flag unbounded_ci)"
    )
    ci_method: str = Field(
        LEGACY_GROUP_CI,
        description="how the group's intervals were made: t / Fieller over seeds, or the "
        "paired bootstrap over test items of the one seed",
    )
    flags: list[str] = Field(default_factory=list)


class ComparisonResult(BaseModel):
    """An elicitor against its control on the same test items and seeds (runs.w2s.controls)."""

    task: str
    weak: str
    strong: str
    method: str = Field(description="the elicitor's label")
    control: str = Field(description="its control's label (the same training minus one thing)")
    method_kind: str = Field(description="'features' (a probe) or 'text' (fine-tuning)")
    seeds: list[int]
    n_seeds: int
    n_test: int = Field(description="test items per seed")
    method_acc: float = Field(description="student accuracy of the method, mean over seeds")
    control_acc: float = Field(description="student accuracy of the control, mean over seeds")
    diff: float = Field(description="mean over seeds of acc(method) - acc(control)")
    diff_ci: Interval
    interval: str = Field(
        description="'t over seeds' (k >= 2) or 'within-seed bootstrap' (one seed)"
    )
    seed_diffs: list[float] = Field(default_factory=list)


def _record(part: Literal["cell", "group"]) -> Any:
    """A validator of one entry of ``cells`` / ``groups``: the model its ``kind`` registered
    (an instance of it passes as it is); an unknown or missing kind fails naming the kinds."""

    def validate(value: Any) -> BaseModel:
        kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
        if not isinstance(kind, str):
            raise ValueError(f"a {part} without a kind (known kinds: {', '.join(KINDS.names())})")
        if kind not in KINDS:
            raise ValueError(KINDS.unknown_message(kind))
        schema = KINDS.schema(kind)
        model = schema.cell_result if part == "cell" else schema.group_result
        if model is None:
            raise ValueError(f"experiment kind {kind!r} has no {part} records")
        if isinstance(value, model):
            return value
        if isinstance(value, BaseModel):
            value = value.model_dump()
        return model.model_validate(value)

    return validate


def _dump(value: BaseModel, info: SerializationInfo) -> Any:
    return value.model_dump(mode=info.mode, exclude_none=info.exclude_none)


# One entry of RunResults.cells / .groups: any registered kind's record, by its ``kind``.
AnyCellResult = Annotated[BaseModel, PlainValidator(_record("cell")), PlainSerializer(_dump)]
AnyGroupResult = Annotated[BaseModel, PlainValidator(_record("group")), PlainSerializer(_dump)]


class RunResults(BaseModel):
    """A run's results.json: every cell and group of every kind, and the run's warnings."""

    schema_version: int = SCHEMA_VERSION
    sandwich_version: str
    run_id: str
    created: str = Field(description="ISO 8601 time the results were written")
    config: dict[str, Any]
    cells: list[AnyCellResult]
    groups: list[AnyGroupResult]
    comparisons: list[ComparisonResult] = Field(
        default_factory=list, description="each elicitor minus its control, paired (w2s)"
    )
    failures: list[Failure] = Field(default_factory=list, description="failed items (protocol)")
    models: dict[str, Any] = Field(default_factory=dict, description="generators by role")
    warnings: list[str] = Field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        """The kinds of the cells, in order of first appearance."""
        return list(dict.fromkeys(_kind(c) for c in self.cells))

    def cells_of(self, kind: str) -> list[Any]:
        """The cell records of one kind (its registered ``cell_result`` model), in order."""
        return [c for c in self.cells if _kind(c) == kind]

    def groups_of(self, kind: str) -> list[Any]:
        """The group records of one kind (its registered ``group_result`` model), in order."""
        return [g for g in self.groups if _kind(g) == kind]

    def w2s_cells(self) -> list[CellResult]:
        return [c for c in self.cells if isinstance(c, CellResult)]

    def w2s_groups(self) -> list[GroupResult]:
        return [g for g in self.groups if isinstance(g, GroupResult)]

    def protocol_rows(self) -> list[ProtocolRow]:
        return [c for c in self.cells if isinstance(c, ProtocolRow)]

    def protocol_aggregates(self) -> list[SeedAggregate]:
        return [g for g in self.groups if isinstance(g, SeedAggregate)]

    def to_frame(self) -> pd.DataFrame:
        """One row per cell (every kind; a column a kind lacks is missing), with ``run_id``."""
        import pandas as pd

        rows = [{"run_id": self.run_id, **c.model_dump(mode="json")} for c in self.cells]
        return pd.DataFrame(rows)


def _kind(record: BaseModel) -> str:
    return str(getattr(record, "kind"))  # noqa: B009 (every record model has it)


def upgrade(data: Any) -> Any:
    """Any results.json this or an earlier sandwich wrote, as version-2 data: w2s
    version 1 (every cell and group w2s); the former protocol runner's (``rows``,
    ``aggregates``, one ``task``; the flag ``small-gap`` now ``small_gap``)."""
    current = isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION
    if not isinstance(data, dict) or (current and "rows" not in data):
        return data
    if "rows" not in data:
        cells, groups = data.get("cells", []), data.get("groups", [])
        return {**data, "schema_version": SCHEMA_VERSION, "cells": [{**c, "kind": "w2s"} for c
                in cells], "groups": [{**g, "kind": "w2s"} for g in groups]}  # fmt: skip
    config = {k: v for k, v in data["config"].items() if k != "task"}
    config["tasks"] = [data["config"]["task"]]
    task = TaskConfig.model_validate(config["tasks"][0]).label

    def protocol(row: dict[str, Any]) -> dict[str, Any]:
        flags = ["small_gap" if f == "small-gap" else f for f in row.get("flags", [])]
        return {**row, "kind": "protocol", "task": task, "flags": flags}

    return {
        **{k: v for k, v in data.items() if k not in ("rows", "aggregates", "failures")},
        "schema_version": SCHEMA_VERSION,
        "config": config,
        "cells": [protocol(r) for r in data["rows"]],
        "groups": [protocol(a) for a in data.get("aggregates", [])],
        "failures": [{**f, "task": task} for f in data.get("failures", [])],
    }


def parse_results(text: str) -> RunResults:
    """A results.json's text as :class:`RunResults` (earlier versions upgraded)."""
    return RunResults.model_validate(upgrade(json.loads(text)))
