"""Tables that compare elicitors: side by side, which ceiling each used, bootstrapping chains."""

from __future__ import annotations

from sandwich.report.rows import Table, flags_text, num, with_ci
from sandwich.runs.results import RunResults


def side_by_side(results: RunResults) -> Table:
    """One row per (task, weak, strong): every elicitor's student accuracy and PGR with CIs.

    So probe, fine-tune and fine-tune + logconf read on one line.
    """
    elicitors = list(dict.fromkeys(g.elicitor for g in results.groups))
    header: tuple[str, ...] = ("task", "weak", "strong")
    for e in elicitors:
        header += (f"{e} acc [CI]", f"{e} PGR [CI]")
    keys = list(dict.fromkeys((g.task, g.weak, g.strong) for g in results.groups))
    rows = []
    for key in keys:
        by = {g.elicitor: g for g in results.groups if (g.task, g.weak, g.strong) == key}
        row: tuple[str, ...] = key
        flags = []
        for e in elicitors:
            g = by.get(e)
            row += (with_ci(g.student_acc, g.student_acc_ci), with_ci(g.pgr, g.pgr_ci, 2)) if g \
                else ("", "")  # fmt: skip
            flags += [f"{e}: {f}" for f in (g.flags if g else [])]
        rows.append((*row, flags_text(flags)))
    return Table((*header, "flags"), rows)


def ceilings(results: RunResults) -> Table:
    """Which ceiling each elicitor's cells used, with its accuracy on T (one row per seed)."""
    rows: dict[tuple[str, ...], list[str]] = {}
    for c in results.cells:
        kind = str(c.specs.get("ceiling", ""))
        key = (c.task, c.strong, str(c.seed), kind, with_ci(c.ceiling_acc, c.ceiling_acc_ci))
        rows.setdefault(key, [])
        if c.elicitor not in rows[key]:
            rows[key].append(c.elicitor)
    header = ("task", "strong", "seed", "ceiling", "ceiling acc [CI]", "elicitors", "flags")
    return Table(header, [(*k, ", ".join(v), "") for k, v in rows.items()])


def chains(results: RunResults) -> Table:
    """Bootstrapping cells: the accuracy on T of every link, weak supervisor to strong model."""
    header = ("task", "weak", "strong", "elicitor", "seed", "chain (accuracy on T)", "flags")
    rows: list[tuple[str, ...]] = []
    for c in results.cells:
        links = c.specs.get("chain")
        if not links:
            continue
        steps = [f"{c.weak} {num(c.weak_acc)}"]
        steps += [f"{link['model']} {num(link['test_acc'])}" for link in links]
        steps.append(f"{c.strong} {num(c.student_acc)}")
        rows.append((c.task, c.weak, c.strong, c.elicitor, str(c.seed), " -> ".join(steps),
                     flags_text(c.flags)))  # fmt: skip
    return Table(header, rows)
