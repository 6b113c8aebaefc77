"""The w2s kind's sections of the report: PGR per group, plots, elicitors side by side,
ceilings, bootstrapping chains, per cell."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

from sandwich.report.calibration import write_w2s_reliability
from sandwich.report.compare import ceilings, chains, side_by_side
from sandwich.report.content import used_flags, w2s_warnings
from sandwich.report.page import KindReport, Section, table_section
from sandwich.report.plots import Plot, write_plots
from sandwich.report.rows import cell_table, esc, group_table, html_table, md_escape, md_table
from sandwich.results import RunResults

PLOTS_DIR = "plots"


def figure(p: Plot) -> str:
    """A plot inline in the HTML page (base64 PNG), so report.html is one file."""
    data = base64.b64encode(p.path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{esc(p.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(p.title)}</figcaption></figure>"
    )


def calibration_section(plots: Sequence[Plot], run_dir: Path, note: str) -> Section:
    """The "Calibration" section: ``note``, then each figure with its caption."""
    md = [note] + [
        f"![{md_escape(p.title)}]({p.path.relative_to(run_dir).as_posix()})\n\n{md_escape(p.title)}"
        for p in plots
    ]
    return Section(
        "Calibration", "\n\n".join(md), f"<p>{esc(note)}</p>" + "".join(figure(p) for p in plots)
    )


W2S_CALIBRATION_NOTE = (
    "Reliability on T of the student, the ceiling and the weak supervisor: accuracy against "
    "mean top-label confidence in 10 equal-width bins, the seeds' bins pooled; the diagonal "
    "is perfect calibration. docs/results.md defines the bins."
)


def w2s_report(results: RunResults, run_dir: Path) -> KindReport:
    """Write the plots into ``run_dir/plots`` and render the sections."""
    plots = write_plots(results, run_dir / PLOTS_DIR)
    flags = used_flags(results)
    groups = group_table(results)
    sections = [
        Section(
            "PGR per group (mean over seeds)",
            "\n".join([md_table(groups), ""] + [f"- `{f}`: {md_escape(m)}" for f, m in flags]),
            html_table(groups)
            + "\n<ul>"
            + "".join(f"<li><code>{esc(f)}</code>: {esc(m)}</li>" for f, m in flags)
            + "</ul>",
        ),
        Section(
            "Plots",
            "\n\n".join(
                f"![{md_escape(p.title)}]({p.path.relative_to(run_dir).as_posix()})" for p in plots
            ),
            "".join(figure(p) for p in plots),
        ),
    ]
    if len({g.elicitor for g in results.w2s_groups()}) > 1:
        sections.append(table_section("Elicitors side by side", side_by_side(results)))
    if reliability := write_w2s_reliability(results, run_dir / PLOTS_DIR):
        sections.append(calibration_section(reliability, run_dir, W2S_CALIBRATION_NOTE))
    sections.append(table_section("Ceilings", ceilings(results)))
    if (chain := chains(results)).rows:
        sections.append(table_section("Bootstrapping chains", chain))
    sections.append(table_section("Per cell (one seed each)", cell_table(results)))
    files = [p.path for p in plots + reliability]
    return KindReport(sections, w2s_warnings(results), files)
