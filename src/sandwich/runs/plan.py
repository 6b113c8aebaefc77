"""The planner: expand a config's grid into cells, the unit of work and caching."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sandwich.runs.config import ElicitorConfig, RunConfig, SupervisorConfig, TaskConfig


class Cell(BaseModel):
    """One (task, weak supervisor, strong model, elicitor, seed) combination.

    A cell holds only plain data, so any executor (local now, Ray later) can
    ship it to a worker and run it with :func:`sandwich.runs.cell.run_cell`.
    """

    model_config = ConfigDict(frozen=True)

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


def plan_cells(config: RunConfig) -> list[Cell]:
    """All cells of the grid, ordered task, strong, weak, seed, elicitor.

    That order keeps cells that share features, labels and ceilings together.
    """
    return [
        Cell(task=t, weak=w, strong=s, elicitor=e, seed=seed)
        for t in config.tasks
        for s in config.strong
        for w in config.weak
        for seed in config.seeds
        for e in config.elicitors
    ]
