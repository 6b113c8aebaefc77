"""The listing commands: ``sandwich tasks|models|supervisors|elicitors|losses|backends``.

Each lists its registry, one line per name; ``--params NAME`` prints that
entry's parameter table (name, type, default, description) from its Params.
``sandwich kinds`` lists the experiment kinds and how a config asks for each.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sandwich.cli.console import console
from sandwich.docs_tables import param_rows, registry

# command -> (registry kind, what else the name can be)
LISTINGS = {
    "tasks": ("task", "also: path: a .jsonl/.csv file, hf: a dataset"),
    "models": ("model", "also: a local model directory, or hf:<hub id>"),
    "supervisors": ("supervisor", ""),
    "elicitors": ("elicitor", ""),
    "losses": ("loss", "of the finetune elicitor"),
    "backends": ("backend", "generation backends"),
}


def show(kind: str, title: str, params: str | None) -> None:
    """The listing of ``kind``, or the parameter table of its entry ``params``."""
    reg = registry(kind)
    if params is None:
        table = Table(title=title)
        table.add_column("name", style="bold")
        table.add_column("description")
        for entry in reg:
            table.add_row(entry.name, entry.summary)
    else:
        entry = reg.entry(params)  # UnknownNameError with the nearest names
        table = Table(title=f"{kind} {entry.name}: {entry.summary}")
        for column in ("param", "type", "default", "description"):
            table.add_column(column, style="bold" if column == "param" else None)
        for row in param_rows(kind, entry.name):
            table.add_row(*(escape(c) for c in row))
    console.print(table)


ParamsOption = Annotated[
    str | None, typer.Option("--params", help="Show NAME's parameters: type, default, meaning.")
]


def add_listings(app: typer.Typer) -> None:
    """Register one listing command per registry on ``app``, and ``kinds``."""
    for command, (kind, note) in LISTINGS.items():
        _add(app, command, kind, f"{command} ({note})" if note else command)
    app.command("kinds")(kinds_cmd)


def kinds_cmd() -> None:
    """List the experiment kinds, one line each: what it measures, how a config asks for it."""
    from sandwich.results.kinds import KINDS

    table = Table(title="experiment kinds (a config may run several)")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("config")
    for spec in KINDS:
        table.add_row(spec.name, escape(spec.summary), escape(spec.config))
    console.print(table)


def _add(app: typer.Typer, command: str, kind: str, title: str) -> None:
    def listing(params: ParamsOption = None) -> None:
        show(kind, title, params)

    listing.__doc__ = f"List the registered {command}, one line each (--params NAME: its table)."
    app.command(command)(listing)
