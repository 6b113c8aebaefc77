"""``sandwich protocols``: list the protocols (``run`` and ``report`` are aliases of
``sandwich run`` and ``sandwich report``, added by :mod:`sandwich.cli`)."""

from __future__ import annotations

import typer
from rich.table import Table

from sandwich.cli.console import console

protocols_app = typer.Typer(
    help="Scalable-oversight protocols: naive judge, consultancy, debate, critique.",
    no_args_is_help=True,
)


@protocols_app.command("list")
def list_cmd() -> None:
    """List the registered protocols, one line each."""
    from sandwich.protocols import PROTOCOLS

    table = Table(title="protocols")
    table.add_column("name", style="bold")
    table.add_column("description")
    for entry in PROTOCOLS:
        table.add_row(entry.name, entry.summary)
    console.print(table)
