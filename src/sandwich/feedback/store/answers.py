"""Recording a rater's answer: exactly once, committed before the page moves on."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import math

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    extract,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.dml import ReturningUpdate

from sandwich.errors import required
from sandwich.feedback.store.db import Assignment, Label, Rater, utcnow

MAX_REASON = 300


class Outcome(enum.Enum):
    SAVED = "saved"  # this request stored the label
    DUPLICATE = "duplicate"  # stored earlier (double click, retry): nothing new stored
    GONE = "gone"  # not this rater's item (any more): nothing stored
    TIMED_OUT = "timed-out"  # stored, but after an enforced time limit: not counted


class AnswerError(ValueError):
    """The submitted form is malformed; the message names the field."""


STATEMENT_CHOICES = ("true", "false")
PAIR_CHOICES = ("first", "second")  # a pairwise item: the completion shown first / second


def parse_answer(
    answer: str, confidence: str, reason: str, choices: tuple[str, str] = STATEMENT_CHOICES
) -> tuple[bool, float, str]:
    """Validate the form fields: answer one of ``choices`` (true/false; a pairwise
    item's first/second), confidence 50..100 (percent). The answer comes back as
    ``answer == choices[0]``."""
    if answer not in choices:
        raise AnswerError(f"answer must be {choices[0]!r} or {choices[1]!r}, got {answer[:20]!r}")
    if not confidence.strip():
        raise AnswerError("confidence is missing: choose how sure you are (50 to 100 percent)")
    try:
        pct = float(confidence)
    except ValueError:
        raise AnswerError(f"confidence must be a number, got {confidence[:20]!r}") from None
    if not math.isfinite(pct) or not 50 <= pct <= 100:
        raise AnswerError(f"confidence must be between 50 and 100 (percent), got {pct}")
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise AnswerError(f"reason must be at most {MAX_REASON} characters, got {len(reason)}")
    return answer == choices[0], pct / 100.0, reason


def record(
    s: Session,
    rater: Rater,
    key: str,
    answer: bool,
    confidence: float,
    reason: str,
    enforced_limit: float | None = None,
) -> Outcome:
    """Store the label of the assignment with ``key`` if it is this rater's and
    unanswered (:func:`record_answer`); returns the outcome."""
    return record_answer(s, rater, key, answer, confidence, reason, enforced_limit)[0]


def record_answer(
    s: Session,
    rater: Rater,
    key: str,
    answer: bool,
    confidence: float,
    reason: str,
    enforced_limit: float | None = None,
    swapped: bool | None = None,
) -> tuple[Outcome, Assignment | None]:
    """Store the label of the assignment with ``key`` if it is this rater's and
    unanswered; returns the outcome and the assignment (None when it is not the
    rater's or was answered before).

    A conditional ``UPDATE ... RETURNING`` marks the assignment answered and
    reads it in the same statement; only the one request that wins it inserts
    the label, so a double submit stores one label. The caller commits before
    replying. With ``enforced_limit`` (seconds), an answer that arrives later
    than that after the item was assigned (server clock) is stored with
    ``timed_out`` and the outcome is ``TIMED_OUT``. ``swapped``: a pairwise
    item was shown B first (``answer`` is already in the canonical order).
    """
    now = utcnow()
    if s.get_bind().dialect.name == "postgresql":
        return _record_in_one_statement(
            s, rater, key, now, answer, confidence, reason, enforced_limit, swapped
        )
    a = s.scalars(
        _mark_statement(), {"the_key": key, "the_rater_id": rater.id, "the_now": now}
    ).first()
    if a is None:
        return _not_recorded(s, rater, key), None
    assigned = required(a.assigned_at, f"assignment {key}: assigned_at")
    seconds = max(0.0, (now - assigned).total_seconds())
    late = enforced_limit is not None and seconds > enforced_limit
    s.add(
        Label(
            study_id=rater.study_id,
            rater_id=rater.id,
            item_id=a.item_id,
            assignment_id=a.id,
            condition=a.condition,
            answer=answer,
            confidence=confidence,
            reason=reason,
            seconds=seconds,
            is_gold=a.role == "gold",
            is_training=a.role == "training",
            created_at=now,
            timed_out=late,
            swapped=swapped,
        )
    )
    s.flush()
    return (Outcome.TIMED_OUT if late else Outcome.SAVED), a


@functools.cache
def _mark_statement() -> ReturningUpdate[Assignment]:
    """SQLite: the conditional ``UPDATE ... RETURNING`` that marks the assignment
    answered (:func:`record_answer`), built once per process with bound parameters
    (``the_key``, ``the_rater_id``, ``the_now``)."""
    return (
        update(Assignment)
        .where(
            Assignment.key == bindparam("the_key", type_=String),
            Assignment.rater_id == bindparam("the_rater_id", type_=Integer),
            Assignment.answered_at.is_(None),
        )
        .values(answered_at=bindparam("the_now", type_=DateTime))
        .returning(Assignment)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


def _not_recorded(s: Session, rater: Rater, key: str) -> Outcome:
    """Why nothing was stored for ``key``: stored before (DUPLICATE) or not the rater's (GONE)."""
    stored = s.scalar(
        select(Label.id)
        .join(Assignment, Assignment.id == Label.assignment_id)
        .where(Assignment.key == key, Label.rater_id == rater.id)
    )
    return Outcome.DUPLICATE if stored is not None else Outcome.GONE


def _record_in_one_statement(
    s: Session,
    rater: Rater,
    key: str,
    now: dt.datetime,
    answer: bool,
    confidence: float,
    reason: str,
    enforced_limit: float | None,
    swapped: bool | None,
) -> tuple[Outcome, Assignment | None]:
    """PostgreSQL: :func:`record_answer` as one round trip instead of two
    (:func:`record_statement`), run with this answer's values as parameters.
    The update's row lock and its ``answered_at IS NULL`` recheck are the same
    as the two-statement form, so a double submit still stores one label."""
    row = s.execute(
        record_statement(),
        {
            "the_key": key,
            "the_rater_id": rater.id,
            "the_study_id": rater.study_id,
            "the_now": now,
            "the_answer": answer,
            "the_confidence": confidence,
            "the_reason": reason,
            "the_limit": enforced_limit,
            "the_swapped": swapped,
        },
    ).first()
    if row is None:
        return _not_recorded(s, rater, key), None
    a, timed_out = row
    return (Outcome.TIMED_OUT if timed_out else Outcome.SAVED), a


@functools.cache
def record_statement() -> Select[Assignment, bool]:
    """The PostgreSQL answer statement, ``WITH a AS (UPDATE assignments ...
    RETURNING *), l AS (INSERT INTO labels SELECT ... FROM a RETURNING ...)
    SELECT a.*, l.timed_out FROM a JOIN l``, built once per process with bound
    parameters named ``the_<field>`` (an UPDATE would take a parameter
    named after a column as a value to set). Building it per request (the CTE's column proxies, the
    ORM alias over it, its cache key) took about a sixth of a server worker's
    CPU under a crowd, more than sending and running it. The answer's seconds
    and lateness are computed by the database from the row's ``assigned_at``
    (the same arithmetic as the two-statement form, on the server's values;
    ``the_limit`` NULL: no enforced limit). SQLite cannot put an update in a CTE."""
    now = bindparam("the_now", type_=DateTime)
    rater_id = bindparam("the_rater_id", type_=Integer)
    marked = (
        update(Assignment)
        .where(
            Assignment.key == bindparam("the_key", type_=String),
            Assignment.rater_id == rater_id,
            Assignment.answered_at.is_(None),
        )
        .values(answered_at=now)
        .returning(*Assignment.__table__.c)
        .cte("a")
    )
    seconds = func.greatest(0.0, cast(extract("epoch", now - marked.c.assigned_at), Float))
    # typed casts: psycopg sends a None (no limit, a statement's swapped) untyped
    limit = cast(bindparam("the_limit"), Float)
    late = func.coalesce(seconds > limit, false())
    rows = select(
        bindparam("the_study_id", type_=Integer),
        rater_id,
        marked.c.item_id,
        marked.c.id,
        marked.c.condition,
        cast(bindparam("the_answer"), Boolean),
        cast(bindparam("the_confidence"), Float),
        bindparam("the_reason", type_=String),
        seconds,
        marked.c.role == "gold",
        marked.c.role == "training",
        now,
        late,
        cast(bindparam("the_swapped"), Boolean),
    ).select_from(marked)
    stored = (
        insert(Label)
        .from_select(
            [
                "study_id",
                "rater_id",
                "item_id",
                "assignment_id",
                "condition",
                "answer",
                "confidence",
                "reason",
                "seconds",
                "is_gold",
                "is_training",
                "created_at",
                "timed_out",
                "swapped",
            ],
            rows,
        )
        .returning(Label.assignment_id, Label.timed_out)
        .cte("l")
    )
    answered = aliased(Assignment, marked)
    return (
        select(answered, stored.c.timed_out)
        .join(stored, stored.c.assignment_id == answered.id)
        .execution_options(populate_existing=True)
    )
