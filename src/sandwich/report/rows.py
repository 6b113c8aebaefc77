"""The report's tables: one model (a header and rows of strings, one per group
or cell) and its three renderings: markdown, HTML and the terminal (rich).

Every string from the results is escaped on the way out (:func:`md_escape`,
:func:`esc`; rich :class:`~rich.text.Text`, never markup).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from rich.table import Table as RichTable
from rich.text import Text

from sandwich.report.content import flagged
from sandwich.results import RunResults


class Table(NamedTuple):
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


def num(x: float | None, digits: int = 3) -> str:
    """A number with fixed digits; ``n/a`` for None or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def defined(x: float | None) -> bool:
    """True for a finite number; False for None (JSON null), NaN or infinity."""
    return x is not None and math.isfinite(x)


def with_ci(x: float | None, ci: Sequence[float | None], digits: int = 3) -> str:
    """``x [low, high]``; the interval is omitted when it is undefined."""
    if not all(defined(v) for v in ci):
        return num(x, digits)
    return f"{num(x, digits)} [{num(ci[0], digits)}, {num(ci[1], digits)}]"


def flags_text(flags: Sequence[str]) -> str:
    return ", ".join(flags)


Column = tuple[str, Callable[[Any], str]]  # header, and the cell's text for one record


def table(columns: Sequence[Column], records: Iterable[Any]) -> Table:
    """One row per record; each column's header and value are defined together."""
    return Table(tuple(h for h, _ in columns), [tuple(f(r) for _, f in columns) for r in records])


def _field(name: str) -> Column:
    return name, lambda r: str(getattr(r, name))


def _names(*fields: str) -> list[Column]:
    return [_field(f) for f in fields]


GROUP_COLUMNS: list[Column] = [
    *_names("task", "weak", "strong", "elicitor"),
    ("seeds", lambda g: str(len(g.seeds))),
    ("weak acc", lambda g: num(g.weak_acc)),
    ("student acc", lambda g: num(g.student_acc)),
    ("ceiling acc", lambda g: num(g.ceiling_acc)),
    ("PGR [95% CI]", lambda g: with_ci(g.pgr, g.pgr_ci, 2)),
    ("flags", lambda g: flags_text(g.flags)),
]
CELL_COLUMNS: list[Column] = [
    *_names("task", "weak", "strong", "elicitor", "seed"),
    ("n test", lambda c: str(c.n_test)),
    ("weak acc [CI]", lambda c: with_ci(c.weak_acc, c.weak_acc_ci)),
    ("student acc [CI]", lambda c: with_ci(c.student_acc, c.student_acc_ci)),
    ("ceiling acc [CI]", lambda c: with_ci(c.ceiling_acc, c.ceiling_acc_ci)),
    ("gap [CI]", lambda c: with_ci(c.gap, c.gap_ci)),
    ("PGR [CI]", lambda c: with_ci(c.pgr, c.pgr_ci, 2)),
    ("student AUROC", lambda c: num(c.student_auroc)),
    ("agreement", lambda c: num(c.agreement)),
    ("agree on weak errors", lambda c: num(c.agreement_on_weak_errors)),
    ("student ECE", lambda c: num(c.student_ece)),
    ("flags", lambda c: flags_text(c.flags)),
]


def group_table(results: RunResults) -> Table:
    """One row per (task, weak, strong, elicitor), aggregated over seeds."""
    return table(GROUP_COLUMNS, results.w2s_groups())


def cell_table(results: RunResults) -> Table:
    """One row per cell (one seed)."""
    return table(CELL_COLUMNS, results.w2s_cells())


def md_escape(text: str) -> str:
    """Escape a string for a markdown table cell (no raw HTML, no column breaks)."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def md_table(table: Table) -> str:
    lines = [
        "| " + " | ".join(md_escape(h) for h in table.header) + " |",
        "|" + "|".join("---" for _ in table.header) + "|",
    ]
    lines += ["| " + " | ".join(md_escape(v) for v in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _is_numeric(header: str) -> bool:
    return any(k in header for k in ("acc", "PGR", "gap", "AUROC", "agree", "ECE", "seed", "n "))


def html_table(table: Table) -> str:
    """A table; rows whose last cell holds a problem flag are dimmed, numbers right-aligned."""
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


def rich(table: Table, title: str) -> RichTable:
    """A table for the terminal; rows with a problem flag (not the informational
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
