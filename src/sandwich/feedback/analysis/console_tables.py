"""``sandwich study status``: the dashboard's numbers as rich tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from sandwich.feedback.analysis.study_status import StudyStatus, fmt

# header -> column of the frame (or a function of the row)
Columns = Mapping[str, str | Callable[[dict[str, Any]], Any]]
PROGRESS: Columns = {
    "condition": "condition",
    "assistance": "kind",
    **{c.replace("_", " "): c for c in ("slots", "assigned", "answered", "over_time", "raters")},
}
CONDITIONS: Columns = {
    "condition": "condition",
    "raters": "n_raters",
    "items": "n_items",
    "labels": "n_labels",
    "labels/item": "labels_per_item",
    "alpha": "alpha",
    "median s": "median_seconds",
    "accuracy": "accuracy",
}
RATERS: Columns = {
    "rater": "rater_id",
    "condition": "condition",
    "labels": "n_labels",
    "gold right": lambda q: f"{q['gold_correct']}/{q['n_gold']}",
    "gold acc": "gold_accuracy",
    "passed": "passed",
    "accuracy": "accuracy",
}

STOPPED: Columns = {"rater": "rater_id", **{c: c for c in ("condition", "status", "reason", "at")}}
LEFT_OUT: Columns = {"rater": "rater_id", "reason": "exclusion_reason", "labels": "labels"}
SHORT: Columns = {"condition": "condition", "item": "item_id", "labels": "labels"}
AGREEMENT: Columns = {
    "condition": "condition",
    "label": "label",
    "items": "n_items",
    "labels": "n_labels",
    "agreement": lambda r: _ci(r, "agreement"),
    "Fleiss kappa": lambda r: _ci(r, "kappa"),
    "alpha": lambda r: _ci(r, "alpha"),
}


def _records_table(title: str, records: list[dict[str, Any]], columns: Columns) -> Table:
    """One row per record, one column per entry of ``columns``."""
    table = Table(title=title, title_justify="left")
    for header in columns:
        table.add_column(header)
    for r in records:
        table.add_row(*(fmt(c(r) if callable(c) else r[c]) for c in columns.values()))
    return table


def _print_frame(console: Any, title: str, frame: pd.DataFrame | None, columns: Columns) -> None:
    """The frame as a table; nothing when it is empty."""
    if frame is not None and len(frame):
        console.print(_records_table(title, frame.to_dict("records"), columns))


def print_status(st: StudyStatus, console: Any) -> None:
    r = st.raters
    console.print(
        f"[bold]{st.name}[/] ({st.design} design): raters invited {r['invited']}, "
        f"started {r['started']}, finished {r['finished']}; completion codes "
        f"{st.completion_code}-... (one per rater: `sandwich study verify-code`)"
    )
    console.print(_records_table("progress (main items)", st.progress, PROGRESS))
    _print_frame(console, "conditions", st.conditions, CONDITIONS)
    _print_frame(console, "raters", st.rater_quality, RATERS)
    if st.sandwich is not None and st.sandwich_conditions is not None:
        a, u = st.sandwich_conditions
        x = st.sandwich
        flag = "  (gap too small to be meaningful)" if x.small_gap else ""
        console.print(
            f"sandwich gap closed ({a} - {u}) / (expert - {u}) = {fmt(x.gap_closed)} "
            f"[{fmt(x.gap_closed_ci.low)}, {fmt(x.gap_closed_ci.high)}]; accuracy {a} "
            f"{fmt(x.assisted_acc, 3)}, {u} {fmt(x.unassisted_acc, 3)}, expert "
            f"{fmt(x.expert_acc, 3)}{flag}",
            highlight=False,
        )
    print_checks(st, console)
    for n in st.notes:
        console.print(f"[yellow]note:[/] {n}")


def print_checks(st: StudyStatus, console: Any) -> None:
    """Screened-out and excluded raters, and the overlap reached per condition."""
    c = st.checks
    if c:
        rule = f" (rule: {st.exclusion_rule})" if st.exclusion_rule else ""
        console.print(
            f"screened out (comprehension) {c.get('screened_out', 0)}; "
            f"excluded (attention){rule} {c.get('excluded', 0)}",
            highlight=False,
        )
    _print_frame(console, "raters stopped by the checks", st.stopped, STOPPED)
    _print_frame(console, "labels left out of the analysis", st.excluded_raters, LEFT_OUT)
    ov = st.overlap
    if ov is None:
        return
    counts = {f"{k} labels": str(k) for k in range(ov.overlap + 1)}
    title = f"overlap: main items by counted labels (target {ov.overlap} per condition)"
    rows = ov.distribution.to_dict("records")
    console.print(_records_table(title, rows, {"condition": "condition", **counts}))
    n = len(ov.short)
    title = f"items short of {ov.overlap} labels ({n}" + (", first 30)" if n > 30 else ")")
    _print_frame(console, title, ov.short.head(30), SHORT)


def print_agreement(table: pd.DataFrame, console: Any) -> None:
    """``sandwich study status``: the agreement table."""
    title = "agreement (main items; 95% bootstrap CI over items)"
    console.print(_records_table(title, table.to_dict("records"), AGREEMENT))


def _ci(row: dict[str, Any], key: str) -> str:
    low, high = row[f"{key}_low"], row[f"{key}_high"]
    if np.isnan(low):
        return fmt(row[key], 3)
    return f"{fmt(row[key], 3)} [{fmt(low, 3)}, {fmt(high, 3)}]"
