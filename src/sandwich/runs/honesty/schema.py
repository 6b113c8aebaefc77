"""The honesty kind's schema (light: pydantic only): its config section, cell and records.

A config runs the kind with a section::

    honesty:
      models: [smollm2-135m]        # generator specs, as the protocol kind's ``judge:``
      conditions: [alone, suggest_right, suggest_wrong, challenge]   # the default: all
      max_items: 40                 # each task's first items only (all when unset)

Every task x model x seed is one :class:`HonestyCell`; its result is one
:class:`HonestyRow` (accuracy per condition, drops and flip rates with CIs, per
difficulty band, ECE of P(correct) alone); with several seeds, a :class:`HonestyGroup`
per task and model. The implementation is :class:`sandwich.runs.honesty.kind.HonestyKind`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from sandwich.config import Strict
from sandwich.protocols.results import BinRecord
from sandwich.results.kinds import KindCell, KindSchema
from sandwich.runs.config import TaskConfig

CONDITION_NAMES = ("alone", "suggest_right", "suggest_wrong", "challenge")


def _spec(spec: Any) -> dict[str, Any]:
    """A bare model name means the local backend (as the protocol kind's ``judge:``)."""
    if isinstance(spec, str):
        return {"backend": "local", "model": spec}
    if isinstance(spec, dict):
        return dict(spec)
    raise ValueError(f"expected a model name or a generator mapping, got {spec!r}")


def model_label(spec: dict[str, Any]) -> str:
    """How a model is named in cells, tables and file names: its ``model`` field."""
    return str(spec.get("model", spec.get("backend", "?")))


class HonestySection(Strict):
    """The ``honesty:`` section: which generation models to ask, under which conditions."""

    models: list[dict[str, Any]] = Field(
        min_length=1,
        description="generator specs: a model name (local backend) or a generator mapping",
    )
    conditions: list[str] = Field(
        default_factory=lambda: list(CONDITION_NAMES),
        description="sycophancy conditions (alone is always asked)",
    )
    max_items: int | None = Field(None, ge=1, description="ask each task's first items only")
    batch_size: int | None = Field(
        None, ge=1, description="prompts per call of a local model that sets none itself"
    )
    n_bins: int = Field(10, ge=2, le=50, description="reliability-diagram bins (ECE)")

    @field_validator("models", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        return [_spec(s) for s in value] if isinstance(value, list) else value

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in CONDITION_NAMES]
        if unknown:
            raise ValueError(f"unknown condition(s) {unknown}; known: {list(CONDITION_NAMES)}")
        if not value or len(set(value)) != len(value):
            raise ValueError(f"must be non-empty and distinct, got {value}")
        return [c for c in CONDITION_NAMES if c in value]

    @model_validator(mode="after")
    def _distinct_models(self) -> HonestySection:
        labels = [model_label(s) for s in self.models]
        if len(set(labels)) != len(labels):
            raise ValueError(f"models: two specs name the same model ({labels})")
        return self

    def generator_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec a generator is built from: ``batch_size`` filled in for a local model."""
        if spec.get("backend") == "local" and self.batch_size and "batch_size" not in spec:
            return {**spec, "batch_size": self.batch_size}
        return dict(spec)


class HonestyCell(KindCell):
    """The sycophancy eval of one model on one task's items with one seed (the bootstrap's)."""

    kind: Literal["honesty"] = "honesty"
    task: TaskConfig
    model: dict[str, Any]
    seed: int

    @property
    def model_name(self) -> str:
        return model_label(self.model)

    @property
    def label(self) -> str:
        return f"{self.task.label} | {self.model_name} | seed {self.seed}"


class RateRecord(BaseModel):
    """A proportion ``k / n`` with its Wilson interval."""

    rate: float
    low: float
    high: float
    k: int
    n: int


class DropRecord(BaseModel):
    """A paired difference acc(alone) - acc(other) (or of mean P) with its bootstrap CI."""

    value: float
    low: float
    high: float
    n: int


class MetricsRecord(BaseModel):
    """:class:`sandwich.honesty.metrics.SycophancyMetrics` of one group of items."""

    group: str  # "all" or "difficulty=easy|medium|hard"
    n_items: int
    accuracy: dict[str, RateRecord]
    drop_suggest_wrong: DropRecord | None = None
    drop_challenge: DropRecord | None = None
    p_drop_suggest_wrong: DropRecord | None = None
    p_drop_challenge: DropRecord | None = None
    challenge_p_shift: DropRecord | None = None
    flip_to_wrong: RateRecord | None = None
    flip_to_right: RateRecord | None = None
    challenge_flip: RateRecord | None = None


class HonestyRow(BaseModel):
    """One cell's result: the metrics of all its items, then per difficulty band, and the
    calibration of the model's P(correct) alone (top-label ECE with its interval)."""

    kind: Literal["honesty"] = "honesty"
    task: str
    model: str
    seed: int
    n_items: int
    conditions: list[str]
    metrics: list[MetricsRecord]
    ece: float
    ece_low: float
    ece_high: float
    reliability: list[BinRecord]
    mean_p_first_choice: float  # mean P(first choice) alone: near 0 or 1 = one answer always
    records: str | None = None  # the per-item records (JSONL), relative to the run directory

    @property
    def overall(self) -> MetricsRecord:
        return self.metrics[0]


class SeedMean(BaseModel):
    """A metric's mean over seeds with a t interval (k - 1 degrees of freedom)."""

    mean: float
    low: float
    high: float
    k: int


class HonestyGroup(BaseModel):
    """One task and model over several seeds: each headline metric's mean over seeds."""

    kind: Literal["honesty"] = "honesty"
    task: str
    model: str
    seeds: list[int]
    metrics: dict[str, SeedMean]


def _check(config: Any, section: HonestySection) -> list[str]:
    """Each model spec is a valid generator config (errors named by their index)."""
    from sandwich.protocols.generators import check_spec

    return [
        f"honesty.models.{i}.{p}"
        for i, spec in enumerate(section.models)
        for p in check_spec(section.generator_spec(spec))
    ]


HONESTY_SCHEMA = KindSchema(
    cell=HonestyCell,
    cell_result=HonestyRow,
    group_result=HonestyGroup,
    section=HonestySection,
    check=_check,
)
