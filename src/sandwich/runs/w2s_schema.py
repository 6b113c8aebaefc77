"""The w2s kind's schema (light: pydantic only): its cell and its result records.

Its config is the flat fields ``weak``, ``strong``, ``elicitors`` of
:class:`sandwich.runs.config.RunConfig` (kept as they were: every config written
before kinds had sections loads, with the same run id); its results are
:class:`sandwich.results.CellResult` and :class:`sandwich.results.GroupResult`.
The implementation is :class:`sandwich.runs.w2s.kind.W2SKind`.
"""

from __future__ import annotations

from typing import Literal

from sandwich.results import CellResult, GroupResult
from sandwich.results.kinds import KindCell, KindSchema
from sandwich.runs.config import ElicitorConfig, SupervisorConfig, TaskConfig


class W2SCell(KindCell):
    """One (task, weak supervisor, strong model, elicitor, seed) combination."""

    kind: Literal["w2s"] = "w2s"
    task: TaskConfig
    weak: SupervisorConfig
    strong: str
    elicitor: ElicitorConfig
    seed: int

    @property
    def label(self) -> str:
        return (
            f"{self.task.label} | {self.weak.display} -> {self.strong} | "
            f"{self.elicitor.display} | seed {self.seed}"
        )


W2S_SCHEMA = KindSchema(cell=W2SCell, cell_result=CellResult, group_result=GroupResult)
