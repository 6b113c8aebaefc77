"""``report.md``: the same content as the HTML, plots linked from ``plots/``."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from sandwich.report.compare import ceilings, chains, side_by_side
from sandwich.report.content import config_yaml, meta, report_warnings, used_flags
from sandwich.report.plots import Plot
from sandwich.report.rows import Table, cell_table, group_table
from sandwich.runs.results import RunResults


def md_escape(text: str) -> str:
    """Escape a string for a markdown table cell (no raw HTML, no column breaks)."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def md_table(table: Table) -> str:
    lines = [
        "| " + " | ".join(md_escape(h) for h in table.header) + " |",
        "|" + "|".join("---" for _ in table.header) + "|",
    ]
    lines += ["| " + " | ".join(md_escape(v) for v in row) + " |" for row in table.rows]
    return "\n".join(lines)


def render_markdown(results: RunResults, plots: Sequence[Plot], base: Path) -> str:
    """The markdown report; plot paths are written relative to ``base`` (the run dir)."""
    parts = [f"# sandwich report: {md_escape(results.run_id)}", ""]
    parts += [f"- **{k}**: {md_escape(v)}" for k, v in meta(results)]
    warnings = report_warnings(results)
    parts += ["", "## Warnings", ""]
    parts += [f"- ⚠ {md_escape(w)}" for w in warnings] or ["None."]
    parts += ["", "## PGR per group (mean over seeds)", "", md_table(group_table(results)), ""]
    parts += [f"- `{f}`: {md_escape(m)}" for f, m in used_flags(results)]
    parts += ["", "## Plots", ""]
    for p in plots:
        rel = p.path.relative_to(base).as_posix()
        parts += [f"![{md_escape(p.title)}]({rel})", ""]
    if len({g.elicitor for g in results.groups}) > 1:
        parts += ["## Elicitors side by side", "", md_table(side_by_side(results)), ""]
    parts += ["## Ceilings", "", md_table(ceilings(results)), ""]
    if (chain := chains(results)).rows:
        parts += ["## Bootstrapping chains", "", md_table(chain), ""]
    parts += ["## Per cell (one seed each)", "", md_table(cell_table(results)), ""]
    parts += ["## Config", "", "```yaml", config_yaml(results.config).rstrip(), "```", ""]
    return "\n".join(parts)
