"""On PostgreSQL, concurrent raters do not queue on each other's locks: a new
participant waits only for another entry from the same client address (the
per-address cap), never for other raters' open writes; slot claims (between
and within design) skip the rows other claims hold, in one statement. Each test keeps
one transaction open and checks that another one finishes under a short
``lock_timeout`` (a wait raises instead of hanging)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from sandwich.feedback.store.answers import Outcome, record
from sandwich.feedback.store.assign import next_assignment
from sandwich.feedback.store.db import Assignment, Label, Rater, Study
from sandwich.feedback.store.studies import get_study, rater_for_pid, study_config, token_hash

from .conftest import Lab  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration  # a real PostgreSQL server

NO_WAIT = "SET LOCAL lock_timeout = '300ms'"  # any lock wait longer than this is an error


@pytest.fixture
def pg(tmp_path: Path, postgres_url: str) -> Iterator[Lab]:
    lab = Lab(tmp_path, postgres_url)
    try:
        yield lab
    finally:
        lab.client.close()
        lab.engine.dispose()


def _pid(n: int) -> str:
    return f"{n:024x}"


def _rater(s: Session, token: str) -> Rater:
    rater = s.scalar(select(Rater).where(Rater.token_hash == token_hash(token)))
    assert rater is not None
    return rater


def _enter(s: Session, study: str, n: int, address: str) -> Rater:
    return rater_for_pid(s, get_study(s, study), _pid(n), address)[0]


def test_a_new_participant_does_not_wait_for_other_raters_writes(pg: Lab) -> None:
    """A label stored but not yet committed (its insert holds a key-share lock on
    the study row), or another address's entry in flight, does not hold up a
    new participant; an entry from the same address does wait (the cap)."""
    study = pg.study(name="entry-locks")
    token = pg.invite(study)[0]
    with pg.Sessions.begin() as s:
        rater = _rater(s, token)
        key = required_key(next_assignment(s, rater, study_config(s.get(Study, rater.study_id))))
    with pg.Sessions.begin() as writing:  # a rater's answer, not committed yet
        assert record(writing, _rater(writing, token), key, True, 0.8, "") is Outcome.SAVED
        with pg.Sessions.begin() as entering:
            entering.execute(text(NO_WAIT))
            _enter(entering, study, 1, "address-a")  # used to wait on the study row
        with pg.Sessions.begin() as other:  # a second address, the first entry still open
            _enter(other, study, 2, "address-b")
            with pg.Sessions.begin() as third:
                third.execute(text(NO_WAIT))
                _enter(third, study, 3, "address-c")
            with pg.Sessions() as same, pytest.raises(OperationalError, match="lock timeout"):
                same.begin()
                same.execute(text(NO_WAIT))
                _enter(same, study, 4, "address-b")  # the same address waits its turn
    with pg.Sessions() as s:
        assert s.scalar(select(Label.id).where(Label.rater_id == _rater(s, token).id))
        raters = s.scalars(select(Rater.external_id).where(Rater.external_id.is_not(None))).all()
    assert sorted(raters) == [_pid(1), _pid(2), _pid(3)]


def required_key(a: Assignment | None) -> str:
    assert a is not None and a.key is not None
    return a.key


@pytest.mark.parametrize("design", ["between", "within"])
def test_claims_skip_each_others_rows_and_never_wait(pg: Lab, design: str) -> None:
    """Four raters' claims stay open; a fifth rater's claim finishes at once with
    a slot none of them holds."""
    study = pg.study(name=f"claims-{design}", design=design, n_items=4, overlap=2)
    tokens = pg.invite(study, 5)
    # every rater's training item first, so that the next assignment is a main claim
    for token in tokens:
        with pg.Sessions.begin() as s:
            rater = _rater(s, token)
            cfg = study_config(s.get(Study, rater.study_id))
            a = next_assignment(s, rater, cfg)
            assert a is not None and a.role == "training"
            record(s, rater, required_key(a), True, 0.8, "")
    open_sessions = [pg.Sessions() for _ in tokens[:4]]
    held: list[int] = []
    try:
        for s, token in zip(open_sessions, tokens[:4], strict=True):
            s.begin()
            s.execute(text(NO_WAIT))
            rater = _rater(s, token)
            a = _next_main(s, rater)
            held.append(a.id)
        with pg.Sessions.begin() as s:
            s.execute(text(NO_WAIT))
            a = _next_main(s, _rater(s, tokens[4]))
            assert a.id not in held
    finally:
        for s in open_sessions:
            s.close()
    assert len(set(held)) == 4


def _next_main(s: Session, rater: Rater) -> Assignment:
    cfg = study_config(s.get(Study, rater.study_id))
    a = next_assignment(s, rater, cfg)
    while a is not None and a.role != "main":  # a gold item drawn first: answer it
        record(s, rater, required_key(a), True, 0.8, "")
        a = next_assignment(s, rater, cfg)
    assert a is not None and a.role == "main"
    return a


def test_within_design_claims_in_one_statement(pg: Lab) -> None:
    """Within design (two conditions): the claim is one UPDATE ... RETURNING, not a
    select per condition, an update and a reload; the preferred condition (the
    one the rater has seen least) wins a tie on the slot number."""
    study = pg.study(name="within-one", design="within", n_items=4, overlap=1, items_per_rater=2)
    token = pg.invite(study)[0]
    statements: list[str] = []

    @event.listens_for(pg.engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split())[:40])

    mains: list[Assignment] = []
    while True:
        with pg.Sessions.begin() as s:
            rater = _rater(s, token)
            cfg = study_config(s.get(Study, rater.study_id))
            statements.clear()
            a = next_assignment(s, rater, cfg)
            if a is None:
                break
            if a.role == "main":
                claims = [  # the claim reads its item in the same statement (a CTE)
                    x
                    for x in statements
                    if x.startswith(("UPDATE", "WITH c AS (UPDATE", "SELECT assignments.slot"))
                ]
                assert len(claims) == 1 and "UPDATE assignments" in claims[0], statements
                mains.append(a)
            record(s, rater, required_key(a), True, 0.8, "")
    event.remove(pg.engine, "before_cursor_execute", _count)
    assert sorted(a.condition for a in mains) == ["assisted", "unassisted"]
    assert all(a.slot == 0 for a in mains)


def test_within_design_never_over_assigns_under_concurrent_claims(pg: Lab) -> None:
    """Eighteen raters at once in a within design, more than the slots: every
    (item, condition) gets exactly ``overlap`` raters, none more, no rater an
    item twice."""
    study = pg.study(name="within-race", design="within", n_items=6, overlap=2, items_per_rater=2)
    tokens = pg.invite(study, 18)  # 36 main labels wanted > 6 items x 2 conditions x 2
    errors: list[BaseException] = []

    def run(token: str) -> None:
        try:
            while True:
                with pg.Sessions.begin() as s:
                    rater = _rater(s, token)
                    a = next_assignment(s, rater, study_config(s.get(Study, rater.study_id)))
                    if a is None:
                        return
                    record(s, rater, required_key(a), True, 0.8, "")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in tokens]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with pg.Sessions() as s:
        rows = s.execute(
            select(Label.item_id, Label.condition, Label.rater_id).where(
                ~Label.is_gold, ~Label.is_training
            )
        ).all()
    per_slot = Counter((item, cond) for item, cond, _ in rows)
    assert len(per_slot) == 12 and set(per_slot.values()) == {2}
    assert len({(item, r) for item, _, r in rows}) == len(rows)


def test_two_requests_of_one_rater_take_turns_for_a_new_item(pg: Lab) -> None:
    """A rater's two page loads at once (two tabs, a double click) while no item
    is pending: the second waits for the first and gets the same item, instead
    of claiming a second slot for the same rater."""
    study = pg.study(name="two-tabs", n_items=6, overlap=2, training={"n": 0})
    token = pg.invite(study)[0]
    got: list[str] = []
    with pg.Sessions.begin() as first:
        rater = _rater(first, token)
        cfg = study_config(first.get(Study, rater.study_id))
        got.append(required_key(next_assignment(first, rater, cfg)))

        def second_tab() -> None:
            with pg.Sessions.begin() as s:
                got.append(required_key(next_assignment(s, _rater(s, token), cfg)))

        tab = threading.Thread(target=second_tab)
        tab.start()
        tab.join(timeout=1.0)
        assert tab.is_alive()  # waiting for the first request's transaction
    tab.join(timeout=10)
    assert len(got) == 2 and got[0] == got[1]
    with pg.Sessions() as s:
        held = s.scalars(
            select(Assignment.key).where(
                Assignment.rater_id == _rater(s, token).id, Assignment.answered_at.is_(None)
            )
        ).all()
    assert held == [got[0]]


def test_the_wait_sampler_names_a_lock_wait_and_its_blocker(pg: Lab) -> None:
    """What ``benchmarks/feedback_load.py`` prints on PostgreSQL: a backend waiting
    on a row lock is counted under ``Lock/...`` with the blocking statement."""
    import time

    from sandwich.testing.pg_waits import WaitSampler

    study = pg.study(name="sampled")
    with pg.Sessions.begin() as holder:
        holder.execute(text("SELECT id FROM studies FOR UPDATE"))

        def waiter() -> None:
            with pg.Sessions.begin() as s:
                s.execute(text("UPDATE studies SET name = name"))

        th = threading.Thread(target=waiter)
        with WaitSampler(pg.url, interval=0.02) as sampler:
            th.start()
            time.sleep(0.6)
        summary = sampler.summary
    th.join(timeout=10)
    assert sampler.error is None and study
    assert summary.samples >= 5 and summary.lock_waits() >= 3
    waits = [(w, sql, by) for (w, sql, by) in summary.by_statement if w.startswith("Lock/")]
    assert any(
        sql.startswith("UPDATE studies") and by.startswith("SELECT id FROM studies FOR UPDATE")
        for _, sql, by in waits
    ), waits
    assert any("Lock/" in line for line in summary.lines())
