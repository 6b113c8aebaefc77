"""Checking a study's database after a load (or crash) test: every label the
server confirmed to a simulated rater is stored exactly once with the answer
sent, no rater labelled an item twice, and no main item got more than
``overlap`` raters in a condition. Labels that do not count (an excluded
rater's, a timed-out answer) gave their slot back, so they are left out of
that last count (:mod:`sandwich.feedback.store.checks`).

Used by the load and crash tests and by ``benchmarks/feedback_load.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sandwich.feedback.simulated_raters import SimulationReport
from sandwich.feedback.store.db import (
    Assignment,
    Label,
    Rater,
    RaterCheck,
    Study,
    make_engine,
    session_factory,
)
from sandwich.feedback.store.studies import get_study, study_config


@dataclass
class LoadAudit:
    """What the database holds against what raters were told."""

    confirmed: int  # distinct labels the server confirmed (saved or duplicate)
    stored: int  # labels of the study in the database
    lost: list[str] = field(default_factory=list)  # confirmed, but missing or changed
    duplicates: list[str] = field(default_factory=list)  # (rater, item) stored twice
    over_assigned: list[str] = field(default_factory=list)  # (item, condition) over overlap
    full: int = 0  # (item, condition) pairs with exactly ``overlap`` labels: the rule was reached

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.over_assigned)

    def summary(self) -> str:
        return (
            f"{self.confirmed} confirmed, {self.stored} stored; lost {len(self.lost)}, "
            f"duplicates {len(self.duplicates)}, over-assigned {len(self.over_assigned)}; "
            f"{self.full} (item, condition) pairs full"
        )


def audit(db_url: str, study_name: str, report: SimulationReport) -> LoadAudit:
    """Compare the study's database with a :class:`SimulationReport`."""
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as s:
            study = get_study(s, study_name)
            overlap = study_config(study).overlap
            rows, labels_per_slot, raters_per_slot = _read(s, study)
    finally:
        engine.dispose()
    stored = {(str(pid), str(key)): bool(ans) for pid, key, ans, _ in rows}
    result = LoadAudit(confirmed=0, stored=len(rows))
    seen: set[tuple[str, str]] = set()
    for lab in report.labels:
        if not lab.confirmed:
            continue
        key = (lab.rater, lab.assignment)
        if key in seen:
            continue
        seen.add(key)
        if key not in stored:
            result.lost.append(f"{lab.rater} assignment {lab.assignment}: not in the database")
        elif lab.outcome == "saved" and stored[key] != lab.answer:
            result.lost.append(f"{lab.rater} assignment {lab.assignment}: answer changed")
    result.confirmed = len(seen)
    pairs = Counter((str(pid), int(item)) for pid, _, _, item in rows)
    result.duplicates = [f"rater {p} item {i}: {n} labels" for (p, i), n in pairs.items() if n > 1]
    for what, counts in (("labels", labels_per_slot), ("raters", raters_per_slot)):
        result.over_assigned += [
            f"item {item} condition {cond}: {n} {what} > overlap {overlap}"
            for item, cond, n in counts
            if n > overlap
        ]
    result.full = sum(1 for _, _, n in labels_per_slot if n == overlap)
    return result


def _read(s: Session, study: Study) -> tuple[Sequence[Any], Sequence[Any], Sequence[Any]]:
    """The study's labels (PID, assignment key, answer, item) and the counted labels
    and the raters per main (item, condition): excluded raters and late answers
    do not count."""
    rows = s.execute(
        select(Rater.external_id, Assignment.key, Label.answer, Label.item_id)
        .join(Rater, Rater.id == Label.rater_id)
        .join(Assignment, Assignment.id == Label.assignment_id)
        .where(Label.study_id == study.id)
    ).all()
    out = select(RaterCheck.rater_id).where(RaterCheck.excluded_at.is_not(None))
    late = select(Label.assignment_id).where(Label.timed_out)
    labels_per_slot = s.execute(
        select(Assignment.item_id, Assignment.condition, func.count(Label.id))
        .join(Label, Label.assignment_id == Assignment.id)
        .where(
            Assignment.study_id == study.id,
            Assignment.role == "main",
            Label.rater_id.not_in(out),
            ~Label.timed_out,
        )
        .group_by(Assignment.item_id, Assignment.condition)
    ).all()
    raters_per_slot = s.execute(
        select(Assignment.item_id, Assignment.condition, func.count())
        .where(
            Assignment.study_id == study.id,
            Assignment.role == "main",
            Assignment.rater_id.is_not(None),
            Assignment.rater_id.not_in(out),
            Assignment.id.not_in(late),
        )
        .group_by(Assignment.item_id, Assignment.condition)
    ).all()
    return rows, labels_per_slot, raters_per_slot
