"""The CLI's consoles: rich output on stdout, warnings and errors on stderr."""

from __future__ import annotations

import sys

from rich.console import Console


class _Console:
    """Rich consoles made at print time; not a terminal (a pipe, a file): 160 columns wide."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr

    def print(self, *objects: object, **kwargs: object) -> None:
        stream = sys.stderr if self.stderr else sys.stdout
        width = None if stream.isatty() else 160
        Console(file=stream, width=width).print(*objects, **kwargs)  # type: ignore[arg-type]


console = _Console()
err_console = _Console(stderr=True)
