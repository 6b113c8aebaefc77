"""Crowd-study checks: comprehension questions, attention checks and the
exclusion rule, released slots, and the overlap actually reached.

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

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sandwich.errors import required
from sandwich.feedback.db import Assignment, Item, Label, Rater, RaterCheck, Study, utcnow
from sandwich.feedback.study import StudyConfig

ATTENTION = "attention"  # the item role of attention checks
TIMED_OUT_REASON = "answered after the enforced time limit"


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


# --- the analysis: which labels count ---------------------------------------------------


def mark_exclusions(frame: pd.DataFrame, cfg: StudyConfig) -> pd.DataFrame:
    """Add ``excluded`` and ``exclusion_reason`` to an export frame (columns
    ``rater_id``, ``is_attention``, ``answer``, ``truth``, ``timed_out``)."""
    frame = frame.copy()
    reasons = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    att = frame[frame["is_attention"].astype(bool)]
    if len(att):
        wrong = (att["answer"].astype(bool) != att["truth"].astype(bool)).groupby(att["rater_id"])
        failed, answered = wrong.sum(), wrong.size()
        out = failed[failed > cfg.attention.max_failed]
        why = {
            r: f"{exclusion_rule(cfg)} ({int(out[r])} of {int(answered[r])} answered wrong)"
            for r in out.index
        }
        reasons = frame["rater_id"].map(why).fillna("").astype(object)
    late = frame["timed_out"].astype(bool)
    reasons[late] = [f"{r}; {TIMED_OUT_REASON}" if r else TIMED_OUT_REASON for r in reasons[late]]
    frame["excluded"] = reasons != ""
    frame["exclusion_reason"] = reasons
    return frame


@dataclass(frozen=True)
class ExclusionReport:
    """What the analysis left out, and why (shown wherever numbers are shown)."""

    raters: int  # raters whose every label is left out (attention rule)
    labels: int  # labels left out, for any reason
    by_reason: dict[str, tuple[int, int]]  # reason -> (raters, labels)
    attention_labels: int  # attention-check answers (not task items; never analysed)

    def lines(self) -> list[str]:
        if not self.labels:
            return []
        out = [f"excluded {self.raters} rater(s) and {self.labels} label(s) from the analysis"]
        out += [f"{n} label(s) of {r} rater(s): {why}" for why, (r, n) in self.by_reason.items()]
        return out


def apply_exclusions(frame: pd.DataFrame) -> tuple[pd.DataFrame, ExclusionReport]:
    """The labels that count (not excluded, not attention checks) and a report of
    what was left out. ``frame`` may lack the check columns (older exports)."""
    excl = (
        frame["excluded"].astype(bool)
        if "excluded" in frame
        else pd.Series(False, index=frame.index)
    )
    att = (
        frame["is_attention"].astype(bool)
        if "is_attention" in frame
        else pd.Series(False, index=frame.index)
    )
    reason = (
        frame["exclusion_reason"].fillna("").astype(str)
        if "exclusion_reason" in frame
        else pd.Series("", index=frame.index)
    )
    gone = frame[excl]
    by_reason: dict[str, tuple[int, int]] = {}
    for why, g in gone.groupby(reason[excl].replace("", "excluded"), sort=True):
        by_reason[str(why)] = (int(g["rater_id"].nunique()), len(g))
    whole = {
        r for r, g in frame.groupby("rater_id") if bool(excl.loc[g.index].all()) and len(g) > 0
    }
    report = ExclusionReport(
        raters=len(whole),
        labels=int(excl.sum()),
        by_reason=by_reason,
        attention_labels=int(att.sum()),
    )
    return frame[~excl & ~att].reset_index(drop=True), report


# --- overlap reached -------------------------------------------------------------------


@dataclass(frozen=True)
class OverlapReport:
    """Counted labels per main item and condition against the study's ``overlap``."""

    overlap: int
    distribution: pd.DataFrame  # condition, then one column per count 0..overlap: items
    short: pd.DataFrame  # condition, item_id, labels: items with fewer than overlap


def overlap_report(
    s: Session, study: Study, cfg: StudyConfig, counted: pd.DataFrame
) -> OverlapReport:
    """From the labels that count (``apply_exclusions``) and the study's main items."""
    keys = s.scalars(
        select(Item.key).where(Item.study_id == study.id, Item.role == "main").order_by(Item.key)
    ).all()
    main = counted
    if len(main):
        main = main[~main["is_gold"].astype(bool) & ~main["is_training"].astype(bool)]
    dist_rows: list[dict[str, Any]] = []
    short_rows: list[dict[str, Any]] = []
    for c in cfg.conditions:
        got = main[main["condition"] == c.name] if len(main) else main
        per_item = (
            got.groupby("item_id").size().reindex(keys, fill_value=0)
            if len(got)
            else pd.Series(0, index=list(keys))
        )
        hist = per_item.clip(upper=cfg.overlap).value_counts()
        dist_rows.append(
            {"condition": c.name, **{str(k): int(hist.get(k, 0)) for k in range(cfg.overlap + 1)}}
        )
        short_rows += [
            {"condition": c.name, "item_id": k, "labels": int(n)}
            for k, n in per_item.items()
            if n < cfg.overlap
        ]
    return OverlapReport(
        overlap=cfg.overlap,
        distribution=pd.DataFrame(
            dist_rows, columns=["condition", *(str(k) for k in range(cfg.overlap + 1))]
        ),
        short=pd.DataFrame(short_rows, columns=["condition", "item_id", "labels"]),
    )


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
    rows = s.execute(
        select(Rater.condition, func.count())
        .join(RaterCheck, RaterCheck.rater_id == Rater.id)
        .where(
            Rater.study_id == study.id,
            (RaterCheck.screened_out_at.is_not(None)) | (RaterCheck.excluded_at.is_not(None)),
        )
        .group_by(Rater.condition)
    ).all()
    return {c: int(n) for c, n in rows}


def stopped_raters(s: Session, study: Study) -> pd.DataFrame:
    """One row per rater screened out or excluded: rater_id (``pid:<PID>`` or
    ``inv:<n>``, as in the export), condition, status, reason, at."""
    from sandwich.feedback.studies import rater_label  # studies imports this module

    rows = s.execute(
        select(Rater.id, Rater.external_id, Rater.condition, RaterCheck)
        .join(RaterCheck, RaterCheck.rater_id == Rater.id)
        .where(
            Rater.study_id == study.id,
            (RaterCheck.screened_out_at.is_not(None)) | (RaterCheck.excluded_at.is_not(None)),
        )
        .order_by(Rater.id)
    ).all()
    records = [
        {
            "rater_id": rater_label(rid, ext),
            "condition": cond or "",
            "status": "screened out" if row.screened_out_at is not None else "excluded",
            "reason": f"comprehension: wrong in {row.comprehension_attempts} tries"
            if row.screened_out_at is not None
            else row.excluded_reason,
            "at": _when(row.screened_out_at or row.excluded_at),
        }
        for rid, ext, cond, row in rows
    ]
    return pd.DataFrame(records, columns=["rater_id", "condition", "status", "reason", "at"])


def _when(at: dt.datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at is not None else ""
