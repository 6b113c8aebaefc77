"""The run config: the single schema of YAML configs (pydantic).

A bad field fails at load time with its path (``elicitors.1.name``) and the
allowed values; unknown task, model, supervisor or elicitor names fail with the
nearest registered names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sandwich.config import Strict, as_list, check_unique, read_yaml, validate_document
from sandwich.models.names import check_model_name
from sandwich.registry import param_problems
from sandwich.tasks.config import TaskConfig


class SupervisorConfig(Strict):
    """A weak supervisor: ``weak-model`` (with ``model``), ``nonexpert``, ``gold``, ..."""

    name: str = Field(description="registered supervisor name (see `sandwich supervisors`)")
    model: str | None = Field(None, description="the weak model, for name=weak-model")
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = Field(None, description="display name in results (default: derived)")

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        return self.model if self.name == "weak-model" and self.model else self.name


class ElicitorConfig(Strict):
    name: str = Field(description="registered elicitor name (see `sandwich elicitors`)")
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    control: str | None = Field(
        None,
        description="label of the entry this one is compared with, paired (default: the "
        "elicitor's declared control, added if missing; see sandwich.runs.w2s.controls)",
    )

    @property
    def display(self) -> str:
        return self.label or self.name


class SplitConfig(Strict):
    """Fractions of each task's items in A (train_weak), B (train_strong), T (test)."""

    train_weak: float = Field(0.3, gt=0, lt=1)
    train_strong: float = Field(0.4, gt=0, lt=1)
    test: float = Field(0.3, gt=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitConfig:
        total = self.train_weak + self.train_strong + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train_weak + train_strong + test must be 1, got {total:g}")
        return self


class FeatureConfig(Strict):
    """Which hidden states every model contributes.

    ``layer``: a float in (0, 1] is a fraction of the model's depth (so one
    setting fits a ladder of models of different depths: 0.5 = the middle
    block, 1.0 = the last); an int is a block index (negative from the end).
    """

    layer: float | int = Field(0.5, description="depth fraction in (0, 1] or a block index")
    pooling: Literal["auto", "last", "mean"] = Field(
        "auto", description="auto = mean for encoders, last token for decoders"
    )
    dtype: Literal["float32", "bfloat16"] = "float32"
    batch_size: int = Field(32, ge=1)
    max_length: int = Field(128, ge=8)

    @field_validator("layer")
    @classmethod
    def _layer_range(cls, v: float | int) -> float | int:
        if isinstance(v, float) and not 0.0 < v <= 1.0:
            raise ValueError("a float layer is a depth fraction and must be in (0, 1]")
        return v


class BootstrapConfig(Strict):
    n_boot: int = Field(1000, ge=100, description="bootstrap replicates for every CI")
    min_test: int = Field(200, ge=1, description="fewer test items than this: a warning")


class RunConfig(Strict):
    """One experiment: the grid tasks x weak x strong x elicitors x seeds."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$", description="used in the run id")
    tasks: list[TaskConfig] = Field(min_length=1)
    weak: list[SupervisorConfig] = Field(min_length=1)
    strong: list[str] = Field(min_length=1, description="strong model names")
    elicitors: list[ElicitorConfig] = Field(
        default_factory=lambda: [ElicitorConfig(name="probe")], min_length=1
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    split: SplitConfig = SplitConfig()
    features: FeatureConfig = FeatureConfig()
    bootstrap: BootstrapConfig = BootstrapConfig()

    @field_validator("tasks", mode="before")
    @classmethod
    def _task_shorthand(cls, v: Any) -> Any:
        return [{"name": t} if isinstance(t, str) else t for t in as_list(v)]

    @field_validator("weak", mode="before")
    @classmethod
    def _weak_shorthand(cls, v: Any) -> Any:
        from sandwich.supervision import SUPERVISORS

        out = []
        for w in as_list(v):
            if isinstance(w, str):
                # a bare string is a supervisor name if registered, else a weak model
                w = {"name": w} if w in SUPERVISORS else {"name": "weak-model", "model": w}
            out.append(w)
        return out

    @field_validator("elicitors", mode="before")
    @classmethod
    def _elicitor_shorthand(cls, v: Any) -> Any:
        return [{"name": e} if isinstance(e, str) else e for e in as_list(v)]

    @field_validator("elicitors", mode="after")
    @classmethod
    def _add_controls(cls, v: list[ElicitorConfig]) -> list[ElicitorConfig]:
        from sandwich.runs.w2s.controls import with_controls

        return with_controls(v)

    @field_validator("strong", mode="before")
    @classmethod
    def _strong_list(cls, v: Any) -> Any:
        return as_list(v)

    @model_validator(mode="after")
    def _names_exist(self) -> RunConfig:
        from sandwich.elicit import ELICITORS
        from sandwich.runs.w2s.controls import control_problems
        from sandwich.supervision import SUPERVISORS

        problems = []
        for i, t in enumerate(self.tasks):
            problems += t.problems(f"tasks.{i}")
        for i, w in enumerate(self.weak):
            if w.name not in SUPERVISORS:
                problems.append(f"weak.{i}.name: {SUPERVISORS.unknown_message(w.name)}")
            else:
                kwargs = {**w.params, **({"model": w.model} if w.name == "weak-model" else {})}
                if w.name != "weak-model" or w.model:
                    problems += param_problems(f"weak.{i}.params", SUPERVISORS, w.name, kwargs)
            if w.name == "weak-model":
                if not w.model:
                    problems.append(f"weak.{i}.model: required for the weak-model supervisor")
                elif (msg := check_model_name(w.model)) is not None:
                    problems.append(f"weak.{i}.model: {msg}")
        for i, s in enumerate(self.strong):
            if (msg := check_model_name(s)) is not None:
                problems.append(f"strong.{i}: {msg}")
        for i, e in enumerate(self.elicitors):
            if e.name not in ELICITORS:
                problems.append(f"elicitors.{i}.name: {ELICITORS.unknown_message(e.name)}")
            else:
                problems += param_problems(f"elicitors.{i}.params", ELICITORS, e.name, e.params)
                chain = e.params.get("chain")
                for j, m in enumerate(chain if isinstance(chain, list) else []):
                    if isinstance(m, str) and (msg := check_model_name(m)) is not None:
                        problems.append(f"elicitors.{i}.params.chain.{j}: {msg}")
        check_unique("tasks", [t.label for t in self.tasks], problems)
        check_unique("weak", [w.display for w in self.weak], problems)
        check_unique("strong", list(self.strong), problems)
        check_unique("elicitors", [e.display for e in self.elicitors], problems)
        problems += control_problems(self.elicitors)
        check_unique("seeds", [str(s) for s in self.seeds], problems)
        if problems:
            raise ValueError("\n".join(problems))
        return self


def parse_config(data: Any, source: str = "<config>") -> RunConfig:
    """Validate a config dict; raise ConfigError naming every bad field."""
    return validate_document(RunConfig, data, source)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML config file."""
    return parse_config(read_yaml(path), str(path))
