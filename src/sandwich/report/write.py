"""Write a run's report into its run directory."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from sandwich.report.html_page import render_html
from sandwich.report.markdown_page import render_markdown
from sandwich.report.plots import write_plots
from sandwich.runs.results import RunResults
from sandwich.store import atomic_write_text

PLOTS_DIR = "plots"


class ReportFiles(NamedTuple):
    markdown: Path
    html: Path
    plots: tuple[Path, ...]


def write_report(results: RunResults, run_dir: Path) -> ReportFiles:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` into ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(results, run_dir / PLOTS_DIR)
    md, page = run_dir / "report.md", run_dir / "report.html"
    atomic_write_text(md, render_markdown(results, plots, run_dir))
    atomic_write_text(page, render_html(results, plots))
    return ReportFiles(md, page, tuple(p.path for p in plots))
