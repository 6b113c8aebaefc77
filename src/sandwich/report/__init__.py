"""Report pages: the page of a run (header, each kind's sections, config), the terminal
tables, plots. Each experiment kind renders its own sections (``report.w2s``,
``report.protocol``); :func:`sandwich.runs.write_report` puts a run's on one page."""

from sandwich.report.page import KindReport, ReportFiles, Section, write_page
from sandwich.report.terminal import format_table, table_text

__all__ = ["KindReport", "ReportFiles", "Section", "format_table", "table_text", "write_page"]
