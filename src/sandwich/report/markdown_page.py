"""Markdown building blocks of ``report.md``: escaped text and tables."""

from __future__ import annotations

import html

from sandwich.report.rows import Table


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
