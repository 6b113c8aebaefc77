"""The ``truth`` kind's schema (pydantic only): its ``truth:`` section, cell and records.

A cell is one reporter of one model at one layer, trained on one task's B split
(the train task) for one seed, and scored on the T split of every test task
(the generalisation matrix's row). Splits are the tasks' own group-aware splits,
so no group (a city, a country, a sum) spans B and T within a task.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from sandwich.config import Strict
from sandwich.registry import param_problems
from sandwich.runs.config import ElicitorConfig, SupervisorConfig, TaskConfig
from sandwich.runs.kinds import KindCell, KindSchema

EVERY = re.compile(r"^every (\d+)$")
LabelSource = Literal["gold", "weak"]


class TruthSection(Strict):
    """The ``truth:`` section: which reporters of which models, at which layers, on which tasks."""

    models: list[str] = Field(min_length=1, description="models whose features the reporters read")
    reporters: list[ElicitorConfig] = Field(
        min_length=1, description="elicitors that read features (probe, mass-mean, ccs, crc, ...)"
    )
    layers: list[float | int] | str = Field(
        default_factory=lambda: [0.5],
        description="depth fractions in (0, 1] or block indices, or 'all' (every block) or "
        "'every k' (blocks k, 2k, ...)",
    )
    layer: float | int | None = Field(
        None,
        description="the layer of the generalisation matrix (default: features.layer); "
        "added to layers if missing",
    )
    train_tasks: list[str] | None = Field(
        None, description="labels of the config's tasks to train on (default: all)"
    )
    test_tasks: list[str] | None = Field(
        None, description="labels of the config's tasks to score on (default: all)"
    )
    labels: LabelSource = Field(
        "gold",
        description="training labels of B: 'gold' (what the lie-detection literature "
        "measures) or 'weak' (the supervisor's labels, fit on A: the sandwich-honest variant)",
    )
    supervisor: SupervisorConfig | None = Field(
        None, description="with labels: weak, the supervisor whose labels of B train the reporters"
    )
    n_bins: int = Field(10, ge=2, description="bins of the ECE and the reliability diagram")

    @field_validator("reporters", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        """A reporter may be given by its name alone, as ``elicitors`` are."""
        return [{"name": x} if isinstance(x, str) else x for x in v] if isinstance(v, list) else v

    @field_validator("layers")
    @classmethod
    def _layers(cls, v: list[float | int] | str) -> list[float | int] | str:
        if isinstance(v, str):
            if v != "all" and not EVERY.match(v):
                raise ValueError(f"layers must be a list, 'all' or 'every k', got {v!r}")
            if (m := EVERY.match(v)) and int(m.group(1)) < 1:
                raise ValueError("layers: 'every k' needs k >= 1")
            return v
        if not v:
            raise ValueError("layers: give at least one layer")
        for x in v:
            if isinstance(x, float) and not 0.0 < x <= 1.0:
                raise ValueError(f"a float layer is a depth fraction in (0, 1], got {x}")
        return v

    @property
    def reporter_labels(self) -> list[str]:
        return [r.display for r in self.reporters]


class TruthCell(KindCell):
    """One reporter of one model at one (resolved) layer, trained on one task for one seed."""

    kind: Literal["truth"] = "truth"
    model: str
    layer: int  # block index, 1..num_layers
    depth: float  # layer / num_layers
    matrix: bool = False  # the layer the generalisation matrix is drawn at
    reporter: ElicitorConfig
    train: TaskConfig
    tests: list[TaskConfig]
    seed: int
    labels: LabelSource = "gold"
    supervisor: SupervisorConfig | None = None

    @property
    def label(self) -> str:
        return (
            f"{self.model} | layer {self.layer} | {self.reporter.display} | "
            f"train {self.train.label} | seed {self.seed}"
        )


class ScoreCI(BaseModel):
    """A score with its bootstrap interval (None where undefined: one class only)."""

    value: float | None
    low: float | None = None
    high: float | None = None


class TestScore(BaseModel):
    """One reporter scored on one test task's T split. A *lie* (a false statement) is the
    positive class: the detector's score is 1 - P(true); recall at 1% / 5% FPR is the share
    of false statements flagged when at most 1% / 5% of true ones are."""

    task: str
    n: int
    accuracy: float
    auroc: ScoreCI
    recall_fpr01: ScoreCI
    recall_fpr05: ScoreCI
    ece: ScoreCI
    reliability: list[tuple[float, float, int]] = Field(
        default_factory=list, description="(mean confidence, accuracy, items) per non-empty bin"
    )


class TruthRecord(BaseModel):
    """A cell's result: its row of the generalisation matrix."""

    kind: Literal["truth"] = "truth"
    model: str
    layer: int
    depth: float
    matrix: bool = Field(False, description="the layer the generalisation matrix is drawn at")
    reporter: str
    train: str
    seed: int
    labels: LabelSource
    train_agreement: float | None = Field(
        None, description="with weak labels: share of B where they match gold"
    )
    scores: list[TestScore]

    def score(self, task: str) -> TestScore | None:
        return next((s for s in self.scores if s.task == task), None)


def _check(config: Any, section: TruthSection) -> list[str]:
    """Cross-field rules: task labels exist, weak labels name a supervisor."""
    problems = []
    labels = [t.label for t in config.tasks]
    for field in ("train_tasks", "test_tasks"):
        for i, name in enumerate(getattr(section, field) or []):
            if name not in labels:
                problems.append(
                    f"truth.{field}.{i}: {name!r} is not a task of this config "
                    f"(tasks: {', '.join(labels)})"
                )
    if section.labels == "weak" and section.supervisor is None:
        problems.append("truth.supervisor: labels: weak needs a supervisor (e.g. {name: ...})")
    if section.labels == "gold" and section.supervisor is not None:
        problems.append("truth.supervisor: given, but labels is gold (set labels: weak)")
    names = section.reporter_labels
    if len(set(names)) != len(names):
        problems.append(f"truth.reporters: labels must be unique, got {names}")
    return problems + _component_problems(section)


def _component_problems(section: TruthSection) -> list[str]:
    """Unknown models, unknown or misconfigured reporters, and reporters that cannot be
    fit on one layer's features (fine-tuning, bootstrapping chains)."""
    from sandwich.elicit import ELICITORS
    from sandwich.models.names import check_model_name
    from sandwich.supervision import SUPERVISORS

    problems = [
        f"truth.models.{i}: {msg}"
        for i, m in enumerate(section.models)
        if (msg := check_model_name(m)) is not None
    ]
    for i, r in enumerate(section.reporters):
        where = f"truth.reporters.{i}"
        found = param_problems(where, ELICITORS, r.name, r.params)
        if not found:
            elicitor = ELICITORS.build(r.name, **r.params)
            if elicitor.inputs != "features":
                found.append(f"{where}.name: {r.name!r} fine-tunes the model on texts; the truth "
                             "kind fits reporters on one layer's features (probe, mass-mean, "
                             "ccs, crc, ...)")  # fmt: skip
            elif not elicitor.reads_features:
                found.append(f"{where}.params: {r.name!r} with these params reads texts only "
                             "(it prompts a generation model); the truth kind fits reporters on "
                             "one layer's features")  # fmt: skip
            elif elicitor.chain_models():
                found.append(f"{where}.name: {r.name!r} chains models; the truth kind fits one "
                             "model's features")  # fmt: skip
        problems += found
    if (sup := section.supervisor) is not None:
        problems += param_problems("truth.supervisor", SUPERVISORS, sup.name, sup.build_params)
    return problems


TRUTH_SCHEMA = KindSchema(
    cell=TruthCell, cell_result=TruthRecord, section=TruthSection, check=_check
)
