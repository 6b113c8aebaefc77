"""Crowd-study checks in the database: comprehension questions, attention checks
and the exclusion rule, released slots (which labels then count, and the overlap
reached: :mod:`~sandwich.feedback.analysis.exclusions`).

- Comprehension: after the instructions and before any item, a rater answers
  the study's questions about them; ``attempts`` tries, then they are
  screened out (no items, no completion code, asked to return the task).
- Attention: instructed-response items (role ``attention``) mixed among the
  main and gold items at positions drawn per rater. A rater who fails more
  than ``max_failed`` of them is excluded at once: stopped without a
  completion code, their main slots released to other raters, and every
  label they gave marked ``excluded`` (kept in the export, left out of the
  analysis with a stated reason).
- Enforced time limit: a late answer is stored with ``timed_out`` and, like an
  excluded rater's labels, left out of the analysis with its slot released.

A released slot is a new free slot of the same (item, condition): the item
can still reach ``overlap`` counted labels, and the labels that count never
exceed ``overlap`` (each release matches one label that does not count).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sandwich.errors import required
from sandwich.feedback.store.db import Assignment, Item, Label, Rater, RaterCheck, Study, utcnow
from sandwich.feedback.study_config import StudyConfig

ATTENTION = "attention"  # the item role of attention checks


# --- rater state -------------------------------------------------------------------


def rater_check(s: Session, rater: Rater, create: bool = False) -> RaterCheck | None:
    """The rater's check row (made on first use when ``create``)."""
    row = s.get(RaterCheck, rater.id)
    if row is None and create:
        row = RaterCheck(
            rater_id=rater.id,
            study_id=rater.study_id,
            comprehension_attempts=0,
            excluded_reason="",
        )
        s.add(row)
        s.flush()
    return row


def screened_out(s: Session, rater: Rater) -> bool:
    row = rater_check(s, rater)
    return row is not None and row.screened_out_at is not None


def excluded(s: Session, rater: Rater) -> bool:
    row = rater_check(s, rater)
    return row is not None and row.excluded_at is not None


def comprehension_pending(s: Session, rater: Rater, cfg: StudyConfig) -> bool:
    """The rater still has to pass the comprehension questions."""
    if not cfg.comprehension.questions:
        return False
    row = rater_check(s, rater)
    return row is None or (row.comprehension_passed_at is None and row.screened_out_at is None)


class Comprehension(enum.Enum):
    PASSED = "passed"
    RETRY = "retry"  # wrong, tries left
    SCREENED_OUT = "screened-out"


def grade_comprehension(
    s: Session, rater: Rater, cfg: StudyConfig, answers: Mapping[str, str]
) -> tuple[Comprehension, int]:
    """Grade one try (form fields ``q0``, ``q1``, ... = the chosen option's index).

    Returns the outcome and the tries left. A try after the rater passed or
    was screened out changes nothing.
    """
    row = required(rater_check(s, rater, create=True), f"rater {rater.id}'s check row")
    if row.comprehension_passed_at is not None:
        return Comprehension.PASSED, 0
    left = cfg.comprehension.attempts - row.comprehension_attempts
    if row.screened_out_at is not None or left <= 0:
        return Comprehension.SCREENED_OUT, 0
    right = all(
        answers.get(f"q{i}") == str(q.options.index(q.answer))
        for i, q in enumerate(cfg.comprehension.questions)
    )
    row.comprehension_attempts += 1
    now = utcnow()
    if right:
        row.comprehension_passed_at = now
        return Comprehension.PASSED, left - 1
    if left - 1 <= 0:
        row.screened_out_at = now
        return Comprehension.SCREENED_OUT, 0
    return Comprehension.RETRY, left - 1


def check_keys(cfg: StudyConfig) -> tuple[dict[str, str], dict[str, bool]]:
    """The answer keys of the checks, for simulated raters: comprehension question ->
    right option, attention-check text -> instructed answer."""
    return (
        {q.question: q.answer for q in cfg.comprehension.questions},
        {a.text: a.answer for a in cfg.attention.items},
    )


# --- attention checks ----------------------------------------------------------------


def attention_positions(cfg: StudyConfig, rater_id: int) -> set[int]:
    """Where the rater's attention checks go in their main+gold+attention sequence:
    distinct positions drawn per rater (seeded by the study seed and rater id)."""
    n_att = len(cfg.attention.items)
    if n_att == 0:
        return set()
    total = cfg.items_per_rater + cfg.gold.n + n_att
    rng = np.random.default_rng([cfg.seed, rater_id, 0xA77E])
    return {int(x) for x in rng.choice(total, size=n_att, replace=False)}


def attention_due(cfg: StudyConfig, rater_id: int, by_role: Mapping[str, int]) -> bool:
    """The rater's next item is an attention check: its drawn position is reached,
    or every main and gold item is done and checks are left."""
    n_att = len(cfg.attention.items)
    if by_role.get(ATTENTION, 0) >= n_att:
        return False
    others = by_role.get("main", 0) + by_role.get("gold", 0)
    seq = others + by_role.get(ATTENTION, 0)
    return seq in attention_positions(cfg, rater_id) or others >= (cfg.items_per_rater + cfg.gold.n)


def attention_record(s: Session, rater: Rater) -> tuple[int, int]:
    """(failed, answered) attention checks of the rater."""
    rows = s.execute(
        select(Label.answer, Item.gold)
        .join(Item, Item.id == Label.item_id)
        .where(Label.rater_id == rater.id, Item.role == ATTENTION)
    ).all()
    return sum(bool(a) != bool(g) for a, g in rows), len(rows)


def exclusion_rule(cfg: StudyConfig) -> str:
    """The rule in words (shown with every exclusion count)."""
    k = cfg.attention.max_failed
    return f"failed more than {k} of {len(cfg.attention.items)} attention checks"


def after_attention_answer(s: Session, rater: Rater, cfg: StudyConfig) -> bool:
    """Apply the exclusion rule after an attention answer; True if the rater is
    (now) excluded. Excluding stops the rater and releases their main slots."""
    failed, answered = attention_record(s, rater)
    if failed <= cfg.attention.max_failed:
        return False
    row = required(rater_check(s, rater, create=True), f"rater {rater.id}'s check row")
    if row.excluded_at is None:
        row.excluded_at = utcnow()
        row.excluded_reason = f"{exclusion_rule(cfg)} ({failed} of {answered} answered wrong)"
        release_rater_slots(s, rater)
        rater.finished_at = rater.finished_at or row.excluded_at
    return True


# --- releasing slots -------------------------------------------------------------------


def release_slot(s: Session, item_id: int, condition: str, study_id: int) -> None:
    """Add one free main slot to (item, condition): the next slot number."""
    for _ in range(20):
        top = s.scalar(
            select(func.max(Assignment.slot)).where(
                Assignment.item_id == item_id, Assignment.condition == condition
            )
        )
        try:
            with s.begin_nested():
                s.add(
                    Assignment(
                        study_id=study_id,
                        item_id=item_id,
                        condition=condition,
                        role="main",
                        slot=(top if top is not None else -1) + 1,
                    )
                )
            return
        except IntegrityError:  # another release took that number meanwhile
            continue
    raise RuntimeError(f"could not release a slot of item {item_id} in {condition}")


def release_rater_slots(s: Session, rater: Rater) -> int:
    """Give back every main slot of an excluded rater: unanswered ones are freed,
    answered ones get a new free slot. Returns the slots released."""
    mine = s.scalars(
        select(Assignment).where(Assignment.rater_id == rater.id, Assignment.role == "main")
    ).all()
    for a in mine:
        if a.answered_at is None:
            s.execute(
                update(Assignment)
                .where(Assignment.id == a.id, Assignment.answered_at.is_(None))
                .values(rater_id=None, position=None, assigned_at=None)
                .execution_options(synchronize_session=False)
            )
        else:
            release_slot(s, a.item_id, a.condition, a.study_id)
    return len(mine)


def check_counts(s: Session, study: Study) -> dict[str, int]:
    """Raters screened out (comprehension) and excluded (attention)."""
    screened, excl = s.execute(
        select(func.count(RaterCheck.screened_out_at), func.count(RaterCheck.excluded_at)).where(
            RaterCheck.study_id == study.id
        )
    ).one()
    return {"screened_out": int(screened), "excluded": int(excl)}


def stopped_per_condition(s: Session, study: Study) -> dict[str | None, int]:
    """Raters per condition who were screened out or excluded: a between design
    balances conditions over the raters still in the study."""
    rows = s.execute(stopped(study, Rater.condition, func.count()).group_by(Rater.condition))
    return {c: int(n) for c, n in rows.all()}


def stopped(study: Study, *columns: Any) -> Select[Any]:
    """A query of ``columns`` over the study's raters the checks stopped (screened out
    or excluded), each joined with its check row."""
    return (
        select(*columns)
        .join(RaterCheck, RaterCheck.rater_id == Rater.id)
        .where(
            Rater.study_id == study.id,
            (RaterCheck.screened_out_at.is_not(None)) | (RaterCheck.excluded_at.is_not(None)),
        )
    )
