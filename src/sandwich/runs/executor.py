"""Executors run cells. The local one runs them in this process, in order.

An executor only needs ``map(fn, cells)``; cells are plain pydantic data and
each kind's ``run_cell`` is a pure function of (context, cell), so a Ray
executor can be added later by shipping the config and cell to workers that
build their own context over a shared artifact store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sandwich.runs.plan import Cell

R = TypeVar("R")


class Executor(Protocol):
    def map(self, fn: Callable[[Cell], R], cells: Sequence[Cell]) -> Iterator[R]: ...


class LocalExecutor:
    """Runs cells one after another with a progress bar."""

    def __init__(self, progress: bool = True) -> None:
        self.progress = progress

    def map(self, fn: Callable[[Cell], R], cells: Sequence[Cell]) -> Iterator[R]:
        if not self.progress:
            yield from (fn(c) for c in cells)
            return
        columns = (
            TextColumn("cells"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
        )
        with Progress(*columns, transient=True) as bar:
            job = bar.add_task("", total=len(cells))
            for cell in cells:
                bar.update(job, description=cell.label)
                yield fn(cell)
                bar.advance(job)
