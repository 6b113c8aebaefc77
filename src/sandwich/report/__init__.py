"""Reports of a run: the PGR table for the terminal, report.md, report.html, plots."""

from sandwich.report.terminal import format_table, table_text
from sandwich.report.write import ReportFiles, write_report

__all__ = ["ReportFiles", "format_table", "table_text", "write_report"]
