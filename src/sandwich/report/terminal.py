"""The PGR table for the terminal (rich), as printed by the CLI."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table as RichTable

from sandwich.report.rows import group_table, rich
from sandwich.results import RunResults

TITLE = "PGR per group (mean over seeds; 95% CI over seeds, or within one seed: see flags)"


def format_table(results: RunResults) -> RichTable:
    """The w2s groups, one row per group."""
    return rich(group_table(results), TITLE)


def table_text(results: RunResults, width: int = 140) -> str:
    """The same table as plain text (no colour), e.g. for logs."""
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False).print(
        format_table(results)
    )
    return buf.getvalue()
