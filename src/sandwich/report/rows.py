"""The report's tables as plain strings: one header and one row of cells per
group (or cell), shared by the terminal, markdown and HTML renderings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from sandwich.runs.results import CellResult, GroupResult, RunResults

GROUP_HEADER = (
    "task",
    "weak",
    "strong",
    "elicitor",
    "seeds",
    "weak acc",
    "student acc",
    "ceiling acc",
    "PGR [95% CI]",
    "flags",
)
CELL_HEADER = (
    "task",
    "weak",
    "strong",
    "elicitor",
    "seed",
    "n test",
    "weak acc [CI]",
    "student acc [CI]",
    "ceiling acc [CI]",
    "gap [CI]",
    "PGR [CI]",
    "student AUROC",
    "agreement",
    "agree on weak errors",
    "student ECE",
    "flags",
)


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


def group_row(g: GroupResult) -> tuple[str, ...]:
    return (
        g.task,
        g.weak,
        g.strong,
        g.elicitor,
        str(len(g.seeds)),
        num(g.weak_acc),
        num(g.student_acc),
        num(g.ceiling_acc),
        with_ci(g.pgr, g.pgr_ci, 2),
        flags_text(g.flags),
    )


def cell_row(c: CellResult) -> tuple[str, ...]:
    return (
        c.task,
        c.weak,
        c.strong,
        c.elicitor,
        str(c.seed),
        str(c.n_test),
        with_ci(c.weak_acc, c.weak_acc_ci),
        with_ci(c.student_acc, c.student_acc_ci),
        with_ci(c.ceiling_acc, c.ceiling_acc_ci),
        with_ci(c.gap, c.gap_ci),
        with_ci(c.pgr, c.pgr_ci, 2),
        num(c.student_auroc),
        num(c.agreement),
        num(c.agreement_on_weak_errors),
        num(c.student_ece),
        flags_text(c.flags),
    )


def group_table(results: RunResults) -> Table:
    """One row per (task, weak, strong, elicitor), aggregated over seeds."""
    return Table(GROUP_HEADER, [group_row(g) for g in results.w2s_groups()])


def cell_table(results: RunResults) -> Table:
    """One row per cell (one seed)."""
    return Table(CELL_HEADER, [cell_row(c) for c in results.w2s_cells()])
