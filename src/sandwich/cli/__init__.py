"""The command line: a thin layer over the Python API."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from sandwich.cli.console import console, err_console
from sandwich.errors import ConfigError, SandwichError

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
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            help="local or ray (overrides the config's executor:; docs/scale.md)",
        ),
    ] = None,
) -> None:
    """Run the experiment a config describes; print its tables; write the report."""
    from sandwich.runs import load_config, result_tables, run

    cfg = load_config(config)  # validates fully before anything is written
    if executor is not None:
        if executor not in ("local", "ray"):
            raise ConfigError(f"--executor: give local or ray, got {executor!r}")
        cfg = cfg.with_executor(executor)
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


from sandwich.cli.plan import plan_cmd  # noqa: E402

app.command("plan")(plan_cmd)

from sandwich.cli.catalog import add_listings  # noqa: E402

add_listings(app)

from sandwich.cli.protocols import protocols_app  # noqa: E402

app.add_typer(protocols_app, name="protocols")
# a protocol config is a run config: the protocol commands are the same commands
protocols_app.command("run", help="The same as `sandwich run`.")(run_cmd)
protocols_app.command("report", help="The same as `sandwich report`.")(report_cmd)

from sandwich.cli.cache import cache_app  # noqa: E402

app.add_typer(cache_app, name="cache")

from sandwich.cli.study import serve_cmd, study_app  # noqa: E402

app.add_typer(study_app, name="study")
app.command("serve")(serve_cmd)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; a SandwichError prints its message and sets the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, standalone_mode=False, prog_name="sandwich")
    except SandwichError as exc:
        notes = "".join(f"\n{n}" for n in getattr(exc, "__notes__", ()))  # e.g. which cell
        err_console.print(f"[red]error:[/] {exc}{notes}", highlight=False)
        return exc.exit_code
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        return int(code or 0)
    except Exception as exc:  # usage errors (an unknown option, a missing argument)
        import click

        # typer >= 0.20 raises its own vendored click's exceptions, which are not click's
        if isinstance(exc, click.ClickException | typer.TyperException):
            show = getattr(exc, "show", None)
            if callable(show):
                show()
            else:
                err_console.print(f"[red]error:[/] {exc}", highlight=False)
            return int(getattr(exc, "exit_code", 2))
        if isinstance(exc, click.exceptions.Abort | typer.Abort):
            return 130
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
