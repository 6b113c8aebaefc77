"""Assignment: which item a rater sees next.

Order for one rater: the training items, then ``items_per_rater`` main items
with ``gold.n`` gold items interleaved. Which gold items (drawn from the
study's gold pool) and at which positions is random per rater (seeded by the
study seed and the rater), so raters comparing notes learn neither. A study's
attention checks (role ``attention``) go in at positions drawn per rater, too
(:func:`sandwich.feedback.store.checks.attention_positions`). Every
assignment given to a rater gets a random ``key``: forms name it by that, never
by its row id (main slots are made first, so ids would tell them apart). A main item is
taken by claiming one of its free slots (``overlap`` per condition, made at
study creation) with a conditional UPDATE, so under any number of concurrent
raters an item is never assigned more than ``overlap`` times per condition.
Slots are claimed lowest slot number first (least-labelled items first); a
rater never gets the same item twice (a unique constraint, too). Conditions
are balanced across raters (between design) or within each rater (within).
A slot claimed but left unanswered for ``lease`` is offered again.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections import Counter
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Executable,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, contains_eager

from sandwich.feedback.store.checks import ATTENTION, attention_due
from sandwich.feedback.store.db import Assignment, Item, Rater, utcnow
from sandwich.feedback.study_config import StudyConfig

LEASE = dt.timedelta(minutes=30)


def new_key() -> str:
    """An assignment's key: 16 random bytes, URL-safe."""
    return secrets.token_urlsafe(16)


def _rater_rng(cfg: StudyConfig, rater: Rater) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, rater.id, 5772156])


def gold_positions(n_main: int, n_gold: int, rng: np.random.Generator) -> set[int]:
    """Indices (in the rater's main+gold sequence) where gold items go: ``n_gold``
    distinct positions drawn by ``rng`` (one rater's generator)."""
    total = n_main + n_gold
    return {int(i) for i in rng.choice(total, size=min(n_gold, total), replace=False)}


def gold_plan(s: Session, rater: Rater, cfg: StudyConfig) -> tuple[set[int], list[int]]:
    """The rater's gold positions and gold item ids (in order), drawn from the pool;
    the same on every call for one rater."""
    rng = _rater_rng(cfg, rater)
    positions = gold_positions(cfg.items_per_rater, cfg.gold.n, rng)
    return positions, _gold_picks(s, rater, cfg, rng)


def _gold_picks(s: Session, rater: Rater, cfg: StudyConfig, rng: np.random.Generator) -> list[int]:
    """The rater's gold item ids drawn from the pool by ``rng`` right after it drew
    the gold positions (:func:`gold_plan`'s order of draws)."""
    pool = list(
        s.scalars(
            select(Item.id)
            .where(Item.study_id == rater.study_id, Item.role == "gold")
            .order_by(Item.position)
        ).all()
    )
    picked = rng.choice(len(pool), size=min(cfg.gold.n, len(pool)), replace=False)
    return [pool[int(i)] for i in picked]


def rater_assignments(s: Session, rater: Rater) -> list[Assignment]:
    """Every assignment given to the rater, in one statement: what
    :func:`next_assignment` decides by and :func:`progress_of` counts (read
    after the rater's row is locked, so it includes what their other requests
    assigned)."""
    return list(s.scalars(_assignments_query(), {"the_rater": rater.id}).all())


@functools.cache
def _assignments_query() -> Select[Assignment]:
    """:func:`rater_assignments`' statement, built once per process (every item page runs it)."""
    return select(Assignment).where(Assignment.rater_id == bindparam("the_rater", type_=Integer))


def pending_of(mine: list[Assignment]) -> Assignment | None:
    """The rater's unanswered assignment (the first by position), from :func:`rater_assignments`."""
    open_ = [a for a in mine if a.answered_at is None]
    return min(open_, key=lambda a: a.position or 0) if open_ else None


def _unseen(s: Session, rater: Rater, role: str) -> int | None:
    """The next training item or attention check the rater has not seen (every rater
    sees all of them, in the study's order)."""
    seen = select(Assignment.item_id).where(Assignment.rater_id == rater.id)
    return s.scalar(
        select(Item.id)
        .where(Item.study_id == rater.study_id, Item.role == role, Item.id.not_in(seen))
        .order_by(Item.position)
        .limit(1)
    )


def _fixed(
    s: Session, rater: Rater, role: str, item_id: int | None, condition: str, position: int
) -> Assignment | None:
    """Give the rater a training, gold or attention item (``item_id``; None: nothing to give)."""
    if item_id is None:
        return None
    a = Assignment(
        study_id=rater.study_id,
        item_id=item_id,
        condition=condition,
        role=role,
        rater_id=rater.id,
        position=position,
        key=new_key(),
        assigned_at=utcnow(),
    )
    s.add(a)
    s.flush()
    return a


def _claim_main(
    s: Session, rater: Rater, conditions: list[str], position: int, lease: dt.timedelta
) -> Assignment | None:
    """Claim one free main slot in ``conditions`` (first = preferred); None if none is left.

    The lowest slot number wins, then the preferred condition, then the lowest
    item id. Each condition's best free slot is one walk of the claim index
    (``ix_assignments_claim``). On PostgreSQL the claim is one statement
    (:func:`_claim_in_one_statement`) whose candidate rows are taken ``FOR NO
    KEY UPDATE SKIP LOCKED``, so concurrent claims pass each other's
    candidates by instead of queueing on them. SQLite's writers are serial:
    one condition is the same one statement (without row locks, which SQLite
    has none of), several are a walk per condition, then a conditional
    update (one sorted read of all conditions would sort the free slots)."""
    now = utcnow()
    if len(conditions) == 1 or s.get_bind().dialect.name == "postgresql":
        return _claim_in_one_statement(s, rater, conditions, position, now, lease)
    free = or_(
        Assignment.rater_id.is_(None),
        and_(Assignment.answered_at.is_(None), Assignment.assigned_at < now - lease),
    )
    seen = select(Assignment.item_id).where(Assignment.rater_id == rater.id)

    def best(condition: str) -> Any:
        query = _first_free(
            select(Assignment.slot, Assignment.item_id, Assignment.id),
            rater.study_id,
            condition,
            free,
            seen,
        )
        return s.execute(query).first()

    for _ in range(20):  # lost a race for a row: take the next free one
        found = [
            (row.slot, rank, row.item_id, row.id)
            for rank, condition in enumerate(conditions)
            if (row := best(condition)) is not None
        ]
        if not found:
            return None
        slot_id = min(found)[3]
        try:
            with s.begin_nested():
                done: CursorResult[Any] = s.execute(  # type: ignore[assignment]
                    update(Assignment)
                    .where(Assignment.id == slot_id, free)
                    .values(rater_id=rater.id, position=position, assigned_at=now, key=new_key())
                    .execution_options(synchronize_session=False)
                )
        except IntegrityError:  # this rater got the item by another request meanwhile
            continue
        if done.rowcount == 1:
            return s.get(Assignment, slot_id, populate_existing=True)
    return None


_Query = TypeVar("_Query", bound=Select)


def _first_free(
    query: _Query,
    study_id: int | ColumnElement[int],
    condition: str | ColumnElement[str],
    free: ColumnElement[bool],
    seen: Select[Any],
) -> _Query:
    """``query`` narrowed to the first free main slot of ``condition`` the rater has not
    seen (``seen``: their item ids), in claim order (lowest slot, then lowest item id:
    the claim index's order). The values may be bound parameters (:func:`_claim_statements`)."""
    return (
        query.where(
            Assignment.study_id == study_id,
            Assignment.role == "main",
            Assignment.condition == condition,
            free,
            Assignment.item_id.not_in(seen),
        )
        .order_by(Assignment.slot, Assignment.item_id)
        .limit(1)
    )


def _claim_in_one_statement(
    s: Session,
    rater: Rater,
    conditions: list[str],
    position: int,
    now: dt.datetime,
    lease: dt.timedelta,
) -> Assignment | None:
    """``UPDATE ... WHERE id = (SELECT ... LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED)
    RETURNING`` (SQLite: without the lock clause), one round trip instead of a
    select per condition, a savepoint, an update and a reload.

    The inner select takes the first free slot in claim order: lowest slot,
    then the preferred condition (the order of ``conditions``), then the
    lowest item id; rows other claims hold are skipped, never waited for, and
    only the row returned is locked (a row lock on each condition's candidate
    would hide the ones not chosen from other raters until commit, and a
    rater who found every candidate locked would be told the study is full).
    One condition (between design) is one walk of the claim index; several
    (within design) are the first :data:`CANDIDATES` free slots of each
    condition, walked on it and sorted (median server time of a claim by
    ``EXPLAIN ANALYZE`` on 2,000 items x 2 conditions x 3 slots: 2.6 ms,
    against 14.8 ms to sort every free slot and 0.2 ms for one condition),
    and only when other claims hold all of those, every free slot. The update cannot lose the
    row, and it cannot give the rater an item twice: the caller holds the
    rater's row (:func:`_lock_rater`), so no other request of theirs assigns
    anything meanwhile (no savepoint is needed around it)."""
    params: dict[str, Any] = {
        "the_rater": rater.id,
        "the_study": rater.study_id,
        "the_position": position,
        "the_now": now,
        "the_stale": now - lease,
        **{f"the_c{k}": c for k, c in enumerate(conditions)},
    }
    postgresql = s.get_bind().dialect.name == "postgresql"
    for claim in _claim_statements(len(conditions), postgresql):
        # every: the candidates were all held by other claims
        got = s.scalars(claim, {**params, "the_key": new_key()}).first()
        if got is not None:
            return got
    return None


CANDIDATES = 16  # free slots per condition a within-design claim chooses from first


@functools.cache
def _claim_statements(n_conditions: int, postgresql: bool) -> tuple[Executable, ...]:
    """The claim statements of :func:`_claim_in_one_statement` for ``n_conditions``
    conditions (tried in order), built once per process with bound parameters named
    ``the_<name>`` (an UPDATE would take a parameter named after a column as a value
    to set): ``the_rater``, ``the_study``, ``the_position``, ``the_now``, ``the_stale``
    (a claim older than it is free again), ``the_key`` and the conditions ``the_c0``,
    ``the_c1``, ... in preference order. Building them per request (the CTE's
    column proxies, the ORM alias over it, its cache key) cost more of a server
    worker's CPU than sending and running them."""
    rater_id = bindparam("the_rater", type_=Integer)
    study_id = bindparam("the_study", type_=Integer)
    conditions = [bindparam(f"the_c{k}", type_=String) for k in range(n_conditions)]
    stale = bindparam("the_stale", type_=DateTime)
    free = or_(
        Assignment.rater_id.is_(None),
        and_(Assignment.answered_at.is_(None), Assignment.assigned_at < stale),
    )
    seen = select(Assignment.item_id).where(Assignment.rater_id == rater_id)
    if n_conditions == 1:
        queries = [_first_free(select(Assignment.id), study_id, conditions[0], free, seen)]
    else:
        rank = case(*((Assignment.condition == c, k) for k, c in enumerate(conditions)))
        mine = (
            Assignment.study_id == study_id,
            Assignment.role == "main",
            free,
            Assignment.item_id.not_in(seen),
        )
        # each condition's first CANDIDATES free slots, walked on the claim index, then
        # sorted: a sort of every free slot of the study cost 5x the one-condition claim
        firsts = union_all(
            *(
                _first_free(select(Assignment.id), study_id, c, free, seen).limit(CANDIDATES)
                for c in conditions
            )
        )
        near = select(Assignment.id).where(Assignment.id.in_(firsts), *mine)
        every = select(Assignment.id).where(Assignment.condition.in_(conditions), *mine)
        queries = [q.order_by(Assignment.slot, rank, Assignment.item_id) for q in (near, every)]
    return tuple(_claim(q, free, rater_id, postgresql) for q in queries)


def _claim(
    query: Select[Any], free: ColumnElement[bool], rater_id: ColumnElement[int], postgresql: bool
) -> Executable:
    """Claim the first row of ``query`` (ordered, ids of free slots) that no other
    claim holds: one ``UPDATE ... RETURNING``. On PostgreSQL the same statement
    reads the claimed slot's item too (``WITH c AS (UPDATE ... RETURNING *)
    SELECT c.*, items.* FROM c JOIN items``), so the item page finds it in the
    session instead of a round trip of its own."""
    pick = query.limit(1).with_for_update(skip_locked=True, key_share=True).scalar_subquery()
    claim = (
        update(Assignment)
        .where(Assignment.id == pick, free)
        .values(
            rater_id=rater_id,
            position=bindparam("the_position", type_=Integer),
            assigned_at=bindparam("the_now", type_=DateTime),
            key=bindparam("the_key", type_=String),
        )
    )
    if postgresql:
        claimed = aliased(Assignment, claim.returning(*Assignment.__table__.c).cte("c"))
        return (
            select(claimed)
            .join(claimed.item)
            .options(contains_eager(claimed.item))
            .execution_options(populate_existing=True)
        )
    return claim.returning(Assignment).execution_options(
        synchronize_session=False, populate_existing=True
    )


def _lock_rater(s: Session, rater: Rater) -> None:
    """PostgreSQL: take the rater's row (``FOR NO KEY UPDATE``, which inserts
    referencing the rater do not wait for) before giving them a new item, so
    two requests of the same rater (a double click, two tabs) take turns: the
    second sees what the first assigned, and never trips the unique (rater,
    item) constraint mid-transaction. Other raters are not held up. SQLite's
    transactions are serial already."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(Rater.id).where(Rater.id == rater.id).with_for_update(key_share=True))


def next_assignment(
    s: Session,
    rater: Rater,
    cfg: StudyConfig,
    lease: dt.timedelta = LEASE,
    *,
    locked: bool = False,
    mine: list[Assignment] | None = None,
) -> Assignment | None:
    """The rater's current item: the pending one, or a newly assigned one; None = done.

    ``locked``: the caller read the rater's row with the lock :func:`_lock_rater`
    takes (:func:`sandwich.feedback.store.studies.rater_by_token` with
    ``lock=True``); ``mine``: the rater's assignments, read after that lock
    (:func:`rater_assignments`). Each saves a round trip per page; the
    gold pool is read only when a gold item may be due."""
    if not locked:
        _lock_rater(s, rater)
    if mine is None:
        mine = rater_assignments(s, rater)
    current = pending_of(mine)
    if current is not None:
        return current
    position = len(mine)
    conds = [c.name for c in cfg.conditions]
    by_role = Counter(a.role for a in mine)

    def rotate(k: int) -> str:
        return rater.condition or conds[k % len(conds)]

    if by_role["training"] < cfg.training.n:
        a = _fixed(
            s,
            rater,
            "training",
            _unseen(s, rater, "training"),
            rotate(by_role["training"]),
            position,
        )
        if a is not None:
            return a
    idx = by_role["main"] + by_role["gold"]
    if attention_due(cfg, rater.id, by_role):  # attention checks at per-rater positions
        a = _fixed(s, rater, ATTENTION, _unseen(s, rater, ATTENTION), rotate(idx), position)
        if a is not None:
            return a
    if idx >= cfg.items_per_rater + cfg.gold.n:
        return None
    rng = _rater_rng(cfg, rater)
    gold_at = gold_positions(cfg.items_per_rater, cfg.gold.n, rng)
    seen = {a.item_id for a in mine}

    picks: list[list[int]] = []  # drawn once: a second draw from rng would differ

    def give_gold() -> Assignment | None:  # the pool is read only now (as gold_plan draws it)
        if not picks:
            picks.append(_gold_picks(s, rater, cfg, rng) if cfg.gold.n else [])
        next_gold = next((i for i in picks[0] if i not in seen), None)
        return _fixed(s, rater, "gold", next_gold, rotate(idx), position)

    if idx in gold_at or by_role["main"] >= cfg.items_per_rater:
        a = give_gold()
        if a is not None:
            return a
    if by_role["main"] < cfg.items_per_rater:
        if rater.condition:
            order = [rater.condition]
        else:  # within design: the condition this rater has seen least first
            shown = Counter(a.condition for a in mine if a.role == "main")
            order = sorted(conds, key=lambda c: (shown[c], conds.index(c)))
        a = _claim_main(s, rater, order, position, lease)
        if a is not None:
            return a
    # no main slot left for this rater: finish the gold items and attention checks, then stop
    return give_gold() or _fixed(
        s, rater, ATTENTION, _unseen(s, rater, ATTENTION), rotate(idx), position
    )


def progress(s: Session, rater: Rater, cfg: StudyConfig) -> tuple[int, int]:
    """(answered, planned) items for the progress bar."""
    answered = s.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.rater_id == rater.id, Assignment.answered_at.is_not(None))
    )
    return int(answered or 0), planned_items(cfg)


def planned_items(cfg: StudyConfig) -> int:
    """Items a rater is planned to answer: training, main, gold and attention checks."""
    return cfg.training.n + cfg.items_per_rater + cfg.gold.n + len(cfg.attention.items)


def progress_of(mine: list[Assignment], cfg: StudyConfig) -> tuple[int, int]:
    """:func:`progress` from the rater's assignments already read (:func:`rater_assignments`)."""
    return sum(a.answered_at is not None for a in mine), planned_items(cfg)
