"""What the stages of one w2s cell read (built once per cell, handed to each stage), and
which features a config's cells need, from what supervisors and elicitors declare."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from sandwich.elicit import ELICITORS
from sandwich.models import Model
from sandwich.runs.config import RunConfig, SupervisorConfig, TaskConfig
from sandwich.runs.context import RunContext
from sandwich.runs.features import TaskSource
from sandwich.runs.plan import W2SCell as Cell
from sandwich.supervision import SUPERVISORS, Supervisor
from sandwich.tasks import Item, Splits, Task

Split = Literal["train_weak", "train_strong", "test"]


def build_supervisor(cfg: SupervisorConfig) -> Supervisor:
    """The configured supervisor; a config's ``model`` (the weak model) is one of its params."""
    return SUPERVISORS.build(cfg.name, **cfg.build_params)


@dataclass
class CellData:
    """One cell's task, split, gold labels, texts and features (the elicitors' ``CellInputs``).

    Features and models come from the run's features service on first use: a
    cell whose stages are all cached reads none."""

    ctx: RunContext
    cell: Cell
    task: Task
    splits: Splits
    strong: str
    seed: int
    progress: bool

    @classmethod
    def build(cls, ctx: RunContext, cell: Cell) -> CellData:
        task, splits = ctx.task(cell.task), ctx.splits(cell.task, cell.seed)
        return cls(ctx, cell, task, splits, cell.strong, cell.seed, ctx.progress)

    @property
    def source(self) -> TaskSource:
        """Features (and loaded models) by model name, for supervisors."""
        return TaskSource(self.ctx.features, self.task)

    def items(self, split: Split) -> list[Item]:
        return list(self.splits[split])

    def gold(self, split: Split) -> np.ndarray:
        return self.task.labels(self.items(split)).astype(np.float64)

    def texts(self, split: Split) -> list[str]:
        return self.task.texts(self.items(split))

    def features(self, split: Split) -> np.ndarray:
        return self.source(self.strong, self.items(split))

    def contrast_features(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        """The strong model's (pos, neg) contrast-pair features of the split's items
        (extracted on first use; only elicitors that declare ``needs_contrast`` ask)."""
        return self.source.contrast(self.strong, self.items(split))

    def model(self, name: str) -> Model:
        return self.ctx.features.model(name)

    def split_key(self) -> dict[str, Any]:
        """What fixes the split: the part of every stage's cache key the stages share."""
        return {
            "task": self.task.fingerprint,
            "seed": self.seed,
            "split": asdict(self.ctx.config.split),
        }

    def features_key(self, model: str) -> str:
        return self.ctx.features.key(model, self.task).hex

    def contrast_key(self, model: str) -> str:
        return self.ctx.features.contrast_key(model, self.task).hex

    def fingerprint(self, model: str) -> str:
        return self.model(model).fingerprint


def feature_jobs(config: RunConfig) -> list[tuple[TaskConfig, str]]:
    """The distinct (task, model) pairs whose features the cells need.

    The supervisors' ``feature_models()``, and the strong models (with any
    chain) for elicitors whose ``inputs`` are features; fine-tuning elicitors
    read the texts.
    """
    models = [m for w in config.weak for m in build_supervisor(w).feature_models()]
    for e in config.elicitors:
        elicitor = ELICITORS.build(e.name, **e.params)
        if elicitor.inputs == "features":
            models += [m for s in config.strong for m in [*elicitor.chain_models(), s]]
    return [(t, m) for t in config.tasks for m in dict.fromkeys(models)]


def contrast_jobs(config: RunConfig) -> list[tuple[TaskConfig, str]]:
    """The (task, strong model) pairs whose contrast-pair features the cells need: none
    unless some elicitor declares ``needs_contrast`` (a run without reporters does no
    extra work)."""
    if not any(ELICITORS.build(e.name, **e.params).needs_contrast for e in config.elicitors):
        return []
    return [(t, s) for t in config.tasks for s in config.strong]
