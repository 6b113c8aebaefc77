"""Aggregate cells over seeds into groups, and collect run-level warnings."""

from __future__ import annotations

from collections.abc import Sequence

from sandwich.metrics import pgr_with_ci_over_seeds
from sandwich.runs.cell import CellOutcome, pgr_fields
from sandwich.runs.results import FLAG_SMALL_GAP, FLAG_SMALL_TEST, GroupResult


def group_key(o: CellOutcome) -> tuple[str, str, str, str]:
    r = o.result
    return (r.task, r.weak, r.strong, r.elicitor)


def aggregate(outcomes: Sequence[CellOutcome], n_boot: int) -> list[GroupResult]:
    """One GroupResult per (task, weak, strong, elicitor), over its seeds."""
    groups: dict[tuple[str, str, str, str], list[CellOutcome]] = {}
    for o in outcomes:
        groups.setdefault(group_key(o), []).append(o)
    out = []
    for (task, weak, strong, elicitor), members in groups.items():
        m = pgr_with_ci_over_seeds(
            [(o.y_test, o.p_weak, o.p_student, o.p_ceiling) for o in members],
            n_boot=n_boot,
            seed=0,
        )
        flags = sorted({f for o in members for f in o.result.flags} - {FLAG_SMALL_GAP})
        if m.small_gap:
            flags.append(FLAG_SMALL_GAP)
        out.append(
            GroupResult(
                task=task,
                weak=weak,
                strong=strong,
                elicitor=elicitor,
                seeds=[o.result.seed for o in members],
                n_test=members[0].result.n_test,
                **pgr_fields(m),
                flags=sorted(flags),
            )
        )
    return out


def run_warnings(groups: Sequence[GroupResult], min_test: int) -> list[str]:
    """Human-readable warnings about numbers that should not be over-read."""
    warnings = []
    for g in groups:
        name = f"{g.task} | {g.weak} -> {g.strong} | {g.elicitor}"
        if FLAG_SMALL_GAP in g.flags:
            why = (
                "the weak supervisor is at least as accurate as the ceiling"
                if g.gap <= 0
                else "the ceiling-weak gap is within noise"
            )
            warnings.append(f"{name}: {why} (gap {g.gap:+.3f}); its PGR is not meaningful")
        if FLAG_SMALL_TEST in g.flags:
            warnings.append(
                f"{name}: only {g.n_test} test items per seed (< {min_test}); "
                "confidence intervals are wide and may be unreliable"
            )
    return warnings
