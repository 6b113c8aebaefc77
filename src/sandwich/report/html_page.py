"""HTML building blocks of ``report.html``: escaped text, tables, inline figures.

Every string from the results is inserted through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html

from sandwich.report.content import flagged
from sandwich.report.plots import Plot
from sandwich.report.rows import Table


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _is_numeric(header: str) -> bool:
    return any(k in header for k in ("acc", "PGR", "gap", "AUROC", "agree", "ECE", "seed", "n "))


def html_table(table: Table) -> str:
    """A table; rows whose last cell holds a problem flag are dimmed."""
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    body = []
    for row in table.rows:
        dim = table.header[-1] == "flags" and flagged(row[-1])
        cells = []
        for h, v in zip(table.header, row, strict=True):
            cls = "flags" if h == "flags" else ("num" if _is_numeric(h) else "")
            cells.append(f'<td class="{cls}">{esc(v)}</td>' if cls else f"<td>{esc(v)}</td>")
        body.append(f'<tr class="{"flagged" if dim else ""}">{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def figure(p: Plot) -> str:
    data = base64.b64encode(p.path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{esc(p.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(p.title)}</figcaption></figure>"
    )
