"""The command line: a thin layer over the Python API."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sandwich.errors import SandwichError
from sandwich.registry import Registry

app = typer.Typer(
    help="sandwich: weak-to-strong and sandwiching experiments with PGR and CIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


@app.command("run")
def run_cmd(
    config: Annotated[Path, typer.Argument(help="a YAML run config")],
    runs_root: Annotated[Path, typer.Option("--runs", help="where run directories go")] = Path(
        "runs"
    ),
    run_id: Annotated[
        str | None, typer.Option(help="run directory name (default: derived)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")] = False,
) -> None:
    """Run the experiment a config describes; print the PGR table; write the report."""
    from sandwich.report import format_table
    from sandwich.runs import load_config, run

    cfg = load_config(config)  # validates fully before anything is written
    out = run(cfg, runs_root=runs_root, run_id=run_id, progress=not quiet)
    console.print(format_table(out.results))
    for w in out.results.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")
    console.print(f"run directory: {out.run_dir}  (report.md, report.html, results.json)")


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run directory holding results.json")],
) -> None:
    """Re-render a run's report from its results.json."""
    from sandwich.report import format_table, write_report
    from sandwich.runs import load_results

    results = load_results(run_dir)
    files = write_report(results, run_dir)
    console.print(format_table(results))
    console.print(f"wrote {files.markdown} and {files.html}")


def _listing(registry: Registry[object], title: str) -> None:
    table = Table(title=title)
    table.add_column("name", style="bold")
    table.add_column("description")
    for entry in registry:
        table.add_row(entry.name, entry.summary)
    console.print(table)


@app.command("models")
def models_cmd() -> None:
    """List registered models (any local HF directory or hf:<id> works too)."""
    from sandwich.models import MODELS

    _listing(MODELS, "models (also: a local model directory, or hf:<hub id>)")  # type: ignore[arg-type]


@app.command("tasks")
def tasks_cmd() -> None:
    """List registered tasks (a .jsonl/.csv file or a HF dataset works too)."""
    from sandwich.tasks import TASKS

    _listing(TASKS, "tasks (also: path: a .jsonl/.csv file, hf: a dataset)")  # type: ignore[arg-type]


@app.command("supervisors")
def supervisors_cmd() -> None:
    """List registered supervisors."""
    from sandwich.supervision import SUPERVISORS

    _listing(SUPERVISORS, "supervisors")  # type: ignore[arg-type]


@app.command("elicitors")
def elicitors_cmd() -> None:
    """List registered elicitors."""
    from sandwich.elicit import ELICITORS

    _listing(ELICITORS, "elicitors")  # type: ignore[arg-type]


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
