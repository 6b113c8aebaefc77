"""``sandwich protocols``: list the protocols (``run`` and ``report`` are aliases of
``sandwich run`` and ``sandwich report``, added by :mod:`sandwich.cli`)."""

from __future__ import annotations

import typer

from sandwich.cli.catalog import ParamsOption, show

protocols_app = typer.Typer(
    help="Scalable-oversight protocols: naive judge, consultancy, debate, critique.",
    no_args_is_help=True,
)


@protocols_app.command("list")
def list_cmd(params: ParamsOption = None) -> None:
    """List the registered protocols, one line each (--params NAME: its table)."""
    show("protocol", "protocols", params)
