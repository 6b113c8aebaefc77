"""``report.html``: one self-contained file (inline CSS, plots as base64 PNG).

Every string from the results is inserted through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from importlib import resources

from sandwich.report.compare import ceilings, chains, side_by_side
from sandwich.report.content import config_yaml, flagged, meta, report_warnings, used_flags
from sandwich.report.plots import Plot
from sandwich.report.rows import Table, cell_table, group_table
from sandwich.runs.results import RunResults


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _is_numeric(header: str) -> bool:
    return any(k in header for k in ("acc", "PGR", "gap", "AUROC", "agree", "ECE", "seed", "n "))


def html_table(table: Table) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    body = []
    for row in table.rows:
        dim = flagged(row[-1])
        cells = []
        for h, v in zip(table.header, row, strict=True):
            cls = "flags" if h == "flags" else ("num" if _is_numeric(h) else "")
            cells.append(f'<td class="{cls}">{esc(v)}</td>' if cls else f"<td>{esc(v)}</td>")
        body.append(f'<tr class="{"flagged" if dim else ""}">{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _figure(p: Plot) -> str:
    data = base64.b64encode(p.path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{esc(p.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(p.title)}</figcaption></figure>"
    )


def render_html(results: RunResults, plots: Sequence[Plot]) -> str:
    css = resources.files("sandwich.report").joinpath("style.css").read_text(encoding="utf-8")
    warnings = report_warnings(results)
    warn_html = (
        '<div class="warnings"><ul>'
        + "".join(f"<li>⚠ {esc(w)}</li>" for w in warnings)
        + "</ul></div>"
        if warnings
        else "<p>None.</p>"
    )
    flags = "".join(f"<li><code>{esc(f)}</code>: {esc(m)}</li>" for f, m in used_flags(results))
    extra = ""
    if len({g.elicitor for g in results.groups}) > 1:
        extra += f"<h2>Elicitors side by side</h2>\n{html_table(side_by_side(results))}\n"
    extra += f"<h2>Ceilings</h2>\n{html_table(ceilings(results))}\n"
    if (chain := chains(results)).rows:
        extra += f"<h2>Bootstrapping chains</h2>\n{html_table(chain)}\n"
    meta_rows = "".join(
        f"<tr><td><b>{esc(k)}</b></td><td>{esc(v)}</td></tr>" for k, v in meta(results)
    )
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
<h2>PGR per group (mean over seeds)</h2>
{html_table(group_table(results))}
<ul>{flags}</ul>
<h2>Plots</h2>
{"".join(_figure(p) for p in plots)}
{extra}<h2>Per cell (one seed each)</h2>
{html_table(cell_table(results))}
<h2>Config</h2>
<pre>{esc(config_yaml(results.config))}</pre>
</body>
</html>
"""
