"""The task part of every config: a registered name, a file or a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from sandwich.config import Strict
from sandwich.tasks.load import load_task
from sandwich.tasks.task import Task


class TaskConfig(Strict):
    """A task: a registered name, a JSONL/CSV file (``path``) or a HF dataset (``hf``)."""

    name: str | None = Field(None, description="registered task name (see `sandwich tasks`)")
    path: str | None = Field(None, description="a .jsonl or .csv file of items")
    hf: str | None = Field(None, description="a Hugging Face dataset name or local dataset path")
    n_items: int | None = Field(
        None,
        ge=20,
        description="items to generate (default: the task's own) or at most this many from a file",
    )
    seed: int = Field(0, description="generation seed of the item set (splits use the cell seed)")
    params: dict[str, Any] = Field(default_factory=dict, description="task-specific parameters")

    @model_validator(mode="after")
    def _one_source(self) -> TaskConfig:
        given = [k for k in ("name", "path", "hf") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of name, path, hf (got {given or 'none'})")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return Path(self.path).stem if self.path else str(self.hf)

    def load(self) -> Task:
        """The task's items (generated, read from the file, or from the dataset)."""
        return load_task(**self.model_dump())  # every field is an argument of load_task

    def problems(self, where: str) -> list[str]:
        """What is wrong with the source before loading it (unknown name or parameter, missing
        file)."""
        from sandwich.registry import param_problems
        from sandwich.tasks.registry import TASKS

        out = []
        if self.name:  # its Params, with n_items and seed as the load will pass them
            given = {**self.params, "seed": self.seed}
            if self.n_items is not None:
                given["n_items"] = self.n_items
            out += param_problems(where, TASKS, self.name, given)
        if self.path and not Path(self.path).is_file():
            out.append(f"{where}.path: no such file {self.path!r}")
        return out
