"""Aggregate cells over seeds into groups, and collect run-level warnings."""

from __future__ import annotations

from collections.abc import Sequence

from sandwich.metrics import pgr_with_ci_over_seeds
from sandwich.metrics.replicates import t_quantile
from sandwich.runs.results import (
    FEW_SEEDS,
    FLAG_FEW_SEEDS,
    FLAG_SINGLE_SEED,
    FLAG_SMALL_GAP,
    FLAG_SMALL_TEST,
    FLAG_UNBOUNDED_CI,
    GroupResult,
)
from sandwich.runs.w2s.cell import CellOutcome, pgr_fields


def seed_flags(n_seeds: int, bounded: bool) -> list[str]:
    """The flags that say how a group's interval was made (and if PGR's is unbounded)."""
    flags = []
    if n_seeds == 1:
        flags.append(FLAG_SINGLE_SEED)
    elif n_seeds < FEW_SEEDS:
        flags.append(FLAG_FEW_SEEDS)
    if not bounded:
        flags.append(FLAG_UNBOUNDED_CI)
    return flags


def aggregate(outcomes: Sequence[CellOutcome], n_boot: int) -> list[GroupResult]:
    """One GroupResult per (task, weak, strong, elicitor), over its seeds.

    Intervals over seeds (t and Fieller, ``sandwich.metrics.pgr_ci``); a group
    of one seed keeps its within-seed bootstrap and is flagged ``single_seed``.
    """
    groups: dict[tuple[str, str, str, str], list[CellOutcome]] = {}
    for o in outcomes:
        r = o.result
        groups.setdefault((r.task, r.weak, r.strong, r.elicitor), []).append(o)
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
        flags += seed_flags(len(members), m.pgr_bounded)
        out.append(
            GroupResult(
                task=task,
                weak=weak,
                strong=strong,
                elicitor=elicitor,
                seeds=[o.result.seed for o in members],
                n_test=members[0].result.n_test,
                **pgr_fields(m),
                ci_method=m.method,
                flags=sorted(set(flags)),
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
        if FLAG_UNBOUNDED_CI in g.flags:
            warnings.append(
                f"{name}: PGR's 95% confidence set is unbounded (the gap is not clearly above 0 "
                "across seeds), so no PGR interval is given; PGR could be anything"
            )
        if FLAG_SMALL_TEST in g.flags:
            warnings.append(
                f"{name}: only {g.n_test} test items per seed (< {min_test}); "
                "confidence intervals are wide and may be unreliable"
            )
    warnings += seed_notes(groups)
    return warnings


def seed_notes(groups: Sequence[GroupResult]) -> list[str]:
    """One line per kind of seed-count caveat (single_seed, few_seeds), naming the groups."""
    notes = []
    single = [g for g in groups if FLAG_SINGLE_SEED in g.flags]
    if single:
        notes.append(
            f"{_count(single, groups)} one seed: within-seed interval (one seed): does not "
            "include training-seed variance; run more seeds for an interval over seeds"
        )
    few = [g for g in groups if FLAG_FEW_SEEDS in g.flags]
    for k in sorted({len(g.seeds) for g in few}):
        with_k = [g for g in few if len(g.seeds) == k]
        notes.append(
            f"{_count(with_k, groups)} {k} seeds: the interval over seeds is wide because seeds "
            f"are few (t quantile on {k - 1} df = {t_quantile(k, 0.05):.2f}, not 1.96)"
        )
    return notes


def _count(some: Sequence[GroupResult], groups: Sequence[GroupResult]) -> str:
    if len(some) == len(groups):
        return "every group has" if len(groups) > 1 else "the group has"
    names = ", ".join(f"{g.task} | {g.weak} -> {g.strong} | {g.elicitor}" for g in some[:3])
    more = f" and {len(some) - 3} more" if len(some) > 3 else ""
    return f"{len(some)} of {len(groups)} groups ({names}{more}) have"
