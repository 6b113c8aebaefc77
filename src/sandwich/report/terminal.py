"""The PGR table for the terminal (rich), as printed by the CLI."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from sandwich.report.content import flagged
from sandwich.report.rows import Table, group_table
from sandwich.results import RunResults

TITLE = "PGR per group (mean over seeds; 95% CI over seeds, or within one seed: see flags)"


def format_table(results: RunResults) -> RichTable:
    """The w2s groups, one row per group."""
    return rich(group_table(results), TITLE)


def rich(table: Table, title: str) -> RichTable:
    """A report table for the terminal; rows with a problem flag (not the informational
    single_seed / few_seeds) are dimmed, flags in yellow."""
    out = RichTable(title=title)
    for name in (h.strip() for h in table.header):
        numeric = name.endswith("acc") or name.startswith(("PGR", "seeds"))
        out.add_column(name, justify="right" if numeric else "left")
    for row in table.rows:
        dim = flagged(row[-1])
        # Text(), not str: names such as "[bold]" must not be read as rich markup
        cells = [Text(v, style="dim" if dim else "") for v in row[:-1]]
        out.add_row(*cells, Text(row[-1], style="yellow"))
    return out


def table_text(results: RunResults, width: int = 140) -> str:
    """The same table as plain text (no colour), e.g. for logs."""
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False).print(
        format_table(results)
    )
    return buf.getvalue()
