"""The command line: a thin layer over the Python API."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sandwich.cli.console import console, err_console
from sandwich.errors import SandwichError
from sandwich.registry import Registry

app = typer.Typer(
    help="sandwich: weak-to-strong and sandwiching experiments with PGR and CIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("run")
def run_cmd(
    config: Annotated[Path, typer.Argument(help="a YAML run config (any experiment kind)")],
    runs_root: Annotated[Path, typer.Option("--runs", help="where run directories go")] = Path(
        "runs"
    ),
    run_id: Annotated[
        str | None, typer.Option(help="run directory name (default: derived)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")] = False,
) -> None:
    """Run the experiment a config describes; print its tables; write the report."""
    from sandwich.runs import load_config, result_tables, run

    cfg = load_config(config)  # validates fully before anything is written
    out = run(cfg, runs_root=runs_root, run_id=run_id, progress=not quiet)
    for table in result_tables(out.results):
        console.print(table)
    for w in out.results.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")
    console.print(f"run directory: {out.run_dir}  (report.md, report.html, results.json)")


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run directory holding results.json")],
) -> None:
    """Re-render a run's report from its results.json (any kind, any earlier version)."""
    from sandwich.runs import load_results, result_tables, write_report

    results = load_results(run_dir)
    files = write_report(results, run_dir)
    for table in result_tables(results):
        console.print(table)
    console.print(f"wrote {files.markdown} and {files.html}")


# command -> (module, registry attribute, what else the name can be)
_LISTINGS = {
    "models": ("sandwich.models", "MODELS", "also: a local model directory, or hf:<hub id>"),
    "tasks": ("sandwich.tasks", "TASKS", "also: path: a .jsonl/.csv file, hf: a dataset"),
    "supervisors": ("sandwich.supervision", "SUPERVISORS", ""),
    "elicitors": ("sandwich.elicit", "ELICITORS", ""),
}


def _listing_command(command: str, module: str, attr: str, note: str) -> None:
    def listing() -> None:
        registry: Registry[object] = getattr(importlib.import_module(module), attr)
        table = Table(title=f"{command} ({note})" if note else command)
        table.add_column("name", style="bold")
        table.add_column("description")
        for entry in registry:
            table.add_row(entry.name, entry.summary)
        console.print(table)

    listing.__doc__ = f"List the registered {command}, one line each."
    app.command(command)(listing)


for _command, (_module, _attr, _note) in _LISTINGS.items():
    _listing_command(_command, _module, _attr, _note)

from sandwich.cli.protocols import protocols_app  # noqa: E402

app.add_typer(protocols_app, name="protocols")
# a protocol config is a run config: the protocol commands are the same commands
protocols_app.command("run", help="The same as `sandwich run`.")(run_cmd)
protocols_app.command("report", help="The same as `sandwich report`.")(report_cmd)

from sandwich.cli.cache import cache_app  # noqa: E402

app.add_typer(cache_app, name="cache")


def _add_study_commands() -> None:
    from sandwich.cli.study import serve_cmd, study_app

    app.add_typer(study_app, name="study")
    app.command("serve")(serve_cmd)


_add_study_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; a SandwichError prints its message and sets the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, standalone_mode=False)
    except SandwichError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        return exc.exit_code
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        return int(code or 0)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 130
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
