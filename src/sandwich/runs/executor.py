"""Executors run cells: the local one in this process, in order; the Ray one on a cluster.

An executor is given a :class:`CellJob` and the planned cells and yields
``(index, outcome)`` for each cell as it lands, in any order; the runner
streams each into the run directory and puts them back in cell order. Cells
are plain pydantic data and each kind's ``run_cell`` is a function of
(context, cell) alone, so a remote executor ships the config *document*, the
cell and the store root, and the worker builds its own context over the same
(shared) artifact store (:mod:`sandwich.runs.ray_executor`).

An executor also runs each kind's ``prepare`` (the local one in this process,
the Ray one as a task). :class:`LocalExecutor` keeps ``map(fn, cells)``
(outcomes in cell order): a subclass that overrides it changes how cells run
in this process (tests use it to stop a run midway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sandwich.runs.plan import Cell

R = TypeVar("R")


@dataclass(frozen=True)
class CellJob:
    """What running a run's cells needs.

    ``config`` (the config document), ``store_root`` and each cell are what a
    remote executor ships; ``local`` runs a cell in this process with the run's
    context (and any generators the caller gave, which cannot be shipped),
    ``local_prepare`` a kind's ``prepare`` for its cells;
    ``resources`` is what a cell asks a scheduler for (the kind's ``resources``).
    """

    config: dict[str, Any]
    store_root: str
    local: Callable[[Cell], Any]
    local_prepare: Callable[[str, Sequence[Cell]], None] = lambda kind, cells: None
    resources: Callable[[Cell], dict[str, float]] = field(default=lambda c: {"CPU": 1.0})
    has_generators: bool = False  # generators given in Python, not by the config
    home: str | None = None  # the driver's $SANDWICH_HOME (response cache), for workers
    prepare_resources: dict[str, float] = field(default_factory=lambda: {"CPU": 1.0})


class Executor(Protocol):
    def prepare(self, job: CellJob, kind: str, cells: Sequence[Cell]) -> None:
        """Run ``kind``'s ``prepare`` for ``cells`` (what they share: w2s features)."""
        ...

    def run(self, job: CellJob, cells: Sequence[Cell]) -> Iterator[tuple[int, Any]]:
        """Each cell's outcome with its index in ``cells``, as it lands."""
        ...


@contextmanager
def cell_progress(total: int, enabled: bool = True) -> Iterator[Callable[[str, int], None]]:
    """One progress bar over all cells; yields ``update(description, n_landed_now)``."""
    if not enabled:
        yield lambda description, advance: None
        return
    columns = (
        TextColumn("cells"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, transient=True) as bar:
        job = bar.add_task("", total=total)
        yield lambda description, advance: bar.update(job, description=description, advance=advance)


class LocalExecutor:
    """Runs cells one after another in this process, with a progress bar."""

    def __init__(self, progress: bool = True) -> None:
        self.progress = progress

    def prepare(self, job: CellJob, kind: str, cells: Sequence[Cell]) -> None:
        job.local_prepare(kind, cells)

    def run(self, job: CellJob, cells: Sequence[Cell]) -> Iterator[tuple[int, Any]]:
        return enumerate(self.map(job.local, cells))

    def map(self, fn: Callable[[Cell], R], cells: Sequence[Cell]) -> Iterator[R]:
        with cell_progress(len(cells), self.progress) as update:
            for cell in cells:
                update(cell.label, 0)
                yield fn(cell)
                update(cell.label, 1)
