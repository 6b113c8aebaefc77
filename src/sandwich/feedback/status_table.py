"""``sandwich study status``: the dashboard's numbers as rich tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from sandwich.feedback.status import StudyStatus, fmt


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*(fmt(v) for v in r))
    return table


def print_status(st: StudyStatus, console: Any) -> None:
    r = st.raters
    console.print(
        f"[bold]{st.name}[/] ({st.design} design): raters invited {r['invited']}, "
        f"started {r['started']}, finished {r['finished']}; completion codes "
        f"{st.completion_code}-... (one per rater: `sandwich study verify-code`)"
    )
    console.print(
        _table(
            "progress (main items)",
            ["condition", "assistance", "slots", "assigned", "answered", "over time", "raters"],
            [
                [
                    p["condition"],
                    p["kind"],
                    p["slots"],
                    p["assigned"],
                    p["answered"],
                    p["over_time"],
                    p["raters"],
                ]
                for p in st.progress
            ],
        )
    )
    if st.conditions is not None and len(st.conditions):
        console.print(
            _table(
                "conditions",
                [
                    "condition",
                    "raters",
                    "items",
                    "labels",
                    "labels/item",
                    "alpha",
                    "median s",
                    "accuracy",
                ],
                [
                    [
                        c["condition"],
                        c["n_raters"],
                        c["n_items"],
                        c["n_labels"],
                        c["labels_per_item"],
                        c["alpha"],
                        c["median_seconds"],
                        c["accuracy"],
                    ]
                    for c in st.conditions.to_dict("records")
                ],
            )
        )
    if st.rater_quality is not None and len(st.rater_quality):
        console.print(
            _table(
                "raters",
                ["rater", "condition", "labels", "gold right", "gold acc", "passed", "accuracy"],
                [
                    [
                        q["rater_id"],
                        q["condition"],
                        q["n_labels"],
                        f"{q['gold_correct']}/{q['n_gold']}",
                        q["gold_accuracy"],
                        q["passed"],
                        q["accuracy"],
                    ]
                    for q in st.rater_quality.to_dict("records")
                ],
            )
        )
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
    if st.stopped is not None and len(st.stopped):
        console.print(
            _table(
                "raters stopped by the checks",
                ["rater", "condition", "status", "reason", "at"],
                st.stopped[["rater_id", "condition", "status", "reason", "at"]].values.tolist(),
            )
        )
    if st.excluded_raters is not None and len(st.excluded_raters):
        console.print(
            _table(
                "labels left out of the analysis",
                ["rater", "reason", "labels"],
                st.excluded_raters[["rater_id", "exclusion_reason", "labels"]].values.tolist(),
            )
        )
    ov = st.overlap
    if ov is None:
        return
    counts = [str(k) for k in range(ov.overlap + 1)]
    console.print(
        _table(
            f"overlap: main items by counted labels (target {ov.overlap} per condition)",
            ["condition", *(f"{k} labels" for k in counts)],
            [[r["condition"], *(r[k] for k in counts)] for r in ov.distribution.to_dict("records")],
        )
    )
    if len(ov.short):
        shown = ov.short.head(30)
        console.print(
            _table(
                f"items short of {ov.overlap} labels ({len(ov.short)}"
                + (", first 30)" if len(ov.short) > 30 else ")"),
                ["condition", "item", "labels"],
                shown[["condition", "item_id", "labels"]].values.tolist(),
            )
        )
