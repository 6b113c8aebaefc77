"""The report page of a run: a header, each kind's sections, the config.

Every experiment kind contributes a :class:`KindReport` (its sections, as
markdown and as HTML, and any warnings it adds); :func:`write_page` puts them
on one page: ``report.md`` (plots linked from ``plots/``) and ``report.html``
(one self-contained file: inline CSS, plots as base64 PNG; every string from
the results goes through :func:`html.escape`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from sandwich.report.content import config_yaml, meta
from sandwich.report.rows import Table, esc, html_table, md_escape, md_table
from sandwich.results import RunResults
from sandwich.store import atomic_write_text


class Section(NamedTuple):
    """One ``##`` section of the report, rendered both ways."""

    title: str
    markdown: str
    html: str


def table_section(title: str, table: Table, note: str = "") -> Section:
    """A section of one table, with an optional note below it."""
    md = md_table(table) + (f"\n\n{md_escape(note)}" if note else "")
    return Section(title, md, html_table(table) + (f"<p>{esc(note)}</p>" if note else ""))


@dataclass
class KindReport:
    """What one experiment kind puts on the page."""

    sections: list[Section]
    warnings: list[str] = field(default_factory=list)  # shown with the run's warnings
    files: list[Path] = field(default_factory=list)  # written next to the report (plots)


class ReportFiles(NamedTuple):
    markdown: Path
    html: Path
    plots: tuple[Path, ...]


def _header(
    results: RunResults, parts: Sequence[KindReport]
) -> tuple[list[tuple[str, str]], list[str]]:
    """(metadata rows incl. the generators by role, every warning of the run and its kinds)."""
    models = [
        (role, f"{d.get('model', d)} ({d.get('backend', '')})" if isinstance(d, dict) else str(d))
        for role, d in results.models.items()
    ]
    return meta(results) + models, list(results.warnings) + [w for p in parts for w in p.warnings]


def render_markdown(results: RunResults, parts: Sequence[KindReport]) -> str:
    rows, warnings = _header(results, parts)
    out = [f"# sandwich report: {md_escape(results.run_id)}", ""]
    out += [f"- **{k}**: {md_escape(v)}" for k, v in rows] + ["", "## Warnings", ""]
    out += [f"- ⚠ {md_escape(w)}" for w in warnings] or ["None."]
    for s in (s for p in parts for s in p.sections):
        out += ["", f"## {md_escape(s.title)}", "", s.markdown.rstrip()]
    out += ["", "## Config", "", "```yaml", config_yaml(results.config).rstrip(), "```", ""]
    return "\n".join(out)


def render_html(results: RunResults, parts: Sequence[KindReport]) -> str:
    css = resources.files("sandwich.report").joinpath("style.css").read_text(encoding="utf-8")
    rows, warnings = _header(results, parts)
    items = "".join(f"<li>⚠ {esc(w)}</li>" for w in warnings)
    warn_html = f'<div class="warnings"><ul>{items}</ul></div>' if warnings else "<p>None.</p>"
    meta_rows = "".join(f"<tr><td><b>{esc(k)}</b></td><td>{esc(v)}</td></tr>" for k, v in rows)
    sections = "".join(f"<h2>{esc(s.title)}</h2>\n{s.html}\n" for p in parts for s in p.sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sandwich report: {esc(results.run_id)}</title>
<style>
{css}
</style>
</head>
<body>
<h1>sandwich report: {esc(results.run_id)}</h1>
<table class="meta">{meta_rows}</table>
<h2>Warnings</h2>
{warn_html}
{sections}<h2>Config</h2>
<pre>{esc(config_yaml(results.config))}</pre>
</body>
</html>
"""


def write_page(results: RunResults, parts: Sequence[KindReport], run_dir: Path) -> ReportFiles:
    """Write ``report.md`` and ``report.html`` into ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    md, page = run_dir / "report.md", run_dir / "report.html"
    atomic_write_text(md, render_markdown(results, parts))
    atomic_write_text(page, render_html(results, parts))
    return ReportFiles(md, page, tuple(f for p in parts for f in p.files))
