"""``sandwich protocols``: run scalable-oversight protocols and list them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sandwich.cli.catalog import ParamsOption, show
from sandwich.cli.console import console, err_console

protocols_app = typer.Typer(
    help="Scalable-oversight protocols: naive judge, consultancy, debate, critique.",
    no_args_is_help=True,
)


@protocols_app.command("run")
def run_cmd(
    config: Annotated[Path, typer.Argument(help="a YAML protocol config (see docs/protocols.md)")],
    runs_root: Annotated[Path, typer.Option("--runs", help="where run directories go")] = Path(
        "runs"
    ),
    run_id: Annotated[
        str | None, typer.Option(help="run directory name (default: derived)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")] = False,
) -> None:
    """Run every protocol of a config; print the judge accuracy table; write the report."""
    from sandwich.protocols.config import load_protocol_config
    from sandwich.protocols.report import rich_table
    from sandwich.protocols.run import run_protocols

    cfg = load_protocol_config(config)  # validates fully before anything is written
    out = run_protocols(cfg, runs_root=runs_root, run_id=run_id, progress=not quiet)
    console.print(rich_table(out.results))
    for w in out.results.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")
    console.print(f"run directory: {out.run_dir}  (report.md, report.html, results.json)")


@protocols_app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a protocol run directory")],
) -> None:
    """Re-render a protocol run's report from results.json and its transcripts."""
    from sandwich.protocols.report import rich_table, write_protocol_report
    from sandwich.protocols.run import load_protocol_results
    from sandwich.protocols.transcripts import read_transcripts

    results = load_protocol_results(run_dir)
    records = {
        (r.protocol, r.seed): read_transcripts(Path(run_dir) / r.transcripts) for r in results.rows
    }
    md, page = write_protocol_report(results, Path(run_dir), records)
    console.print(rich_table(results))
    console.print(f"wrote {md} and {page}")


@protocols_app.command("list")
def list_cmd(params: ParamsOption = None) -> None:
    """List the registered protocols, one line each (--params NAME: its table)."""
    show("protocol", "protocols", params)
