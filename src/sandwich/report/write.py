"""Write a run's report into its run directory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NamedTuple

from sandwich.report.html_page import render_html
from sandwich.report.markdown_page import render_markdown
from sandwich.report.plots import write_plots
from sandwich.runs.results import RunResults

PLOTS_DIR = "plots"


class ReportFiles(NamedTuple):
    markdown: Path
    html: Path
    plots: tuple[Path, ...]


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(results: RunResults, run_dir: Path) -> ReportFiles:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` into ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(results, run_dir / PLOTS_DIR)
    md, page = run_dir / "report.md", run_dir / "report.html"
    _atomic_write(md, render_markdown(results, plots, run_dir))
    _atomic_write(page, render_html(results, plots))
    return ReportFiles(md, page, tuple(p.path for p in plots))
