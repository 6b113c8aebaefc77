"""What the cells of one run share: the config, the artifact store, loaded tasks,
their splits and the features service. Every experiment kind reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sandwich.models.generation.base import Generator
from sandwich.runs.config import RunConfig, TaskConfig
from sandwich.runs.features import TaskFeatures
from sandwich.store import ArtifactStore
from sandwich.tasks import Splits, Task


@dataclass
class RunContext:
    """What cells of one run share: the config, the store, loaded tasks and features.

    ``run_dir`` is where the run writes files for readers (protocol transcripts);
    ``generators`` are judge / assistant generators given by the caller instead
    of the ones the config names (tests, notebooks).
    """

    config: RunConfig
    store: ArtifactStore
    progress: bool = True
    run_dir: Path | None = None
    generators: dict[str, Generator] = field(default_factory=dict)
    features: TaskFeatures = field(init=False)
    _tasks: dict[str, Task] = field(default_factory=dict)
    _splits: dict[tuple[str, int], Splits] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = TaskFeatures(self.store, self.config.features, self.progress)

    def task(self, cfg: TaskConfig) -> Task:
        key = cfg.model_dump_json()
        if key not in self._tasks:
            self._tasks[key] = cfg.load()
        return self._tasks[key]

    def splits(self, cfg: TaskConfig, seed: int) -> Splits:
        """The seed's A/B/T split of a task, made once per run."""
        key = (cfg.model_dump_json(), seed)
        if key not in self._splits:
            self._splits[key] = self.task(cfg).split(seed, self.config.split)
        return self._splits[key]
