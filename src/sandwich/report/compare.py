"""Tables that compare elicitors: side by side, which ceiling each used, bootstrapping chains."""

from __future__ import annotations

from sandwich.report.rows import Table, defined, flags_text, num, with_ci
from sandwich.results import ComparisonResult, RunResults


def signed(x: float | None, digits: int = 3) -> str:
    """A number with its sign (``+0.012``); ``n/a`` if undefined."""
    return f"{x:+.{digits}f}" if defined(x) else "n/a"


def paired_text(c: ComparisonResult) -> str:
    """``+0.012 [-0.004, +0.028] (3 seeds, t)``: method minus control, paired."""
    low, high = c.diff_ci
    ci = f" [{signed(low)}, {signed(high)}]" if defined(low) and defined(high) else ""
    how = "t" if c.interval == "t over seeds" else "within-seed"
    seeds = f"{c.n_seeds} seed{'s' if c.n_seeds != 1 else ''}"
    return f"{signed(c.diff)}{ci} ({seeds}, {how})"


def side_by_side(results: RunResults) -> Table:
    """One row per (task, weak, strong): every elicitor's student accuracy and PGR with CIs,
    and, for an elicitor with a control, its paired accuracy difference to that control.

    So probe, fine-tune and fine-tune + logconf read on one line. The paired
    column is what isolates an ingredient (the auxiliary loss, say): two
    elicitors' accuracies side by side differ in everything their training
    does differently. Its interval is a t interval over the per-seed
    differences (or, with one seed, a bootstrap over that seed's test items,
    marked "within-seed"); see sandwich.metrics.paired.
    """
    elicitors = list(dict.fromkeys(g.elicitor for g in results.w2s_groups()))
    control_of = {c.method: c.control for c in results.comparisons}
    header: tuple[str, ...] = ("task", "weak", "strong")
    for e in elicitors:
        header += (f"{e} acc [CI]", f"{e} PGR [CI]")
        if e in control_of:
            header += (f"{e} − {control_of[e]} acc, paired [CI]",)
    keys = list(dict.fromkeys((g.task, g.weak, g.strong) for g in results.w2s_groups()))
    rows = []
    for key in keys:
        by = {g.elicitor: g for g in results.w2s_groups() if (g.task, g.weak, g.strong) == key}
        paired = {c.method: c for c in results.comparisons if (c.task, c.weak, c.strong) == key}
        row: tuple[str, ...] = key
        flags = []
        for e in elicitors:
            g = by.get(e)
            row += (with_ci(g.student_acc, g.student_acc_ci), with_ci(g.pgr, g.pgr_ci, 2)) if g \
                else ("", "")  # fmt: skip
            if e in control_of:
                row += (paired_text(paired[e]) if e in paired else "",)
            flags += [f"{e}: {f}" for f in (g.flags if g else [])]
        rows.append((*row, flags_text(flags)))
    return Table((*header, "flags"), rows)


def ceilings(results: RunResults) -> Table:
    """Which ceiling each elicitor's cells used, with its accuracy on T (one row per seed).

    A ceiling is shared by every cell of its seed; each cell's CI for it comes
    from that cell's paired bootstrap (resampled with its own student), so the
    CIs differ in the last digit between cells: the row shows the first one.
    """
    rows: dict[tuple[str, ...], tuple[str, list[str]]] = {}
    for c in results.w2s_cells():
        kind = str(c.specs.get("ceiling", ""))
        key = (c.task, c.strong, str(c.seed), kind, repr(c.ceiling_acc))
        _, elicitors = rows.setdefault(key, (with_ci(c.ceiling_acc, c.ceiling_acc_ci), []))
        if c.elicitor not in elicitors:
            elicitors.append(c.elicitor)
    header = ("task", "strong", "seed", "ceiling", "ceiling acc [CI]", "elicitors", "flags")
    return Table(header, [(*k[:4], ci, ", ".join(v), "") for k, (ci, v) in rows.items()])


def chains(results: RunResults) -> Table:
    """Bootstrapping cells: the accuracy on T of every link, weak supervisor to strong model."""
    header = ("task", "weak", "strong", "elicitor", "seed", "chain (accuracy on T)", "flags")
    rows: list[tuple[str, ...]] = []
    for c in results.w2s_cells():
        links = c.specs.get("chain")
        if not links:
            continue
        steps = [f"{c.weak} {num(c.weak_acc)}"]
        steps += [f"{link['model']} {num(link['test_acc'])}" for link in links]
        steps.append(f"{c.strong} {num(c.student_acc)}")
        rows.append((c.task, c.weak, c.strong, c.elicitor, str(c.seed), " -> ".join(steps),
                     flags_text(c.flags)))  # fmt: skip
    return Table(header, rows)
