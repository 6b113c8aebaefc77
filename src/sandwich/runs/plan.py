"""The planner: a config's cells of every active kind, the unit of work and caching.

A cell is plain, frozen pydantic data with a ``kind`` discriminator, so any
executor (local, or Ray: :mod:`sandwich.runs.ray_executor`) can ship it to a
worker; the kind registered under that name in :data:`sandwich.runs.kinds.KINDS`
runs it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from sandwich.config import Strict
from sandwich.runs.config import (
    ElicitorConfig,
    ProtocolConfig,
    RunConfig,
    SupervisorConfig,
    TaskConfig,
)
from sandwich.runs.kinds import kind_of


class W2SCell(Strict):
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


class ProtocolCell(Strict):
    """One protocol on one task's items with one seed (judge and assistant: the config's)."""

    kind: Literal["protocol"] = "protocol"
    task: TaskConfig
    protocol: ProtocolConfig
    seed: int

    @property
    def label(self) -> str:
        return f"{self.task.label} | {self.protocol.display} | seed {self.seed}"


Cell = Annotated[W2SCell | ProtocolCell, Field(discriminator="kind")]


def plan_cells(config: RunConfig) -> list[Cell]:
    """Every cell of every kind the config runs, kind by kind in the kinds' own order."""
    return [cell for name in config.kinds for cell in kind_of(name).plan(config)]
