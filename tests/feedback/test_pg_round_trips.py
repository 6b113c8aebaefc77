"""On PostgreSQL, a label costs few round trips: each statement of a request
runs inside its open transaction, so every one is a wait between the app and
the database. The answer (mark the assignment answered, store the label) is
one statement, and the next item page reads the rater (with its lock), their
assignments, and claims a slot reading its item in the same statement: no
separate lock, pending, gold-pool, item or progress queries. Counted with
SQLAlchemy's cursor events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session

from sandwich.feedback.store.db import Assignment

from .conftest import Lab  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration  # a real PostgreSQL server


@pytest.fixture
def pg(tmp_path: Path, postgres_url: str) -> Iterator[Lab]:
    lab = Lab(tmp_path, postgres_url)
    try:
        yield lab
    finally:
        lab.client.close()
        lab.engine.dispose()


class Statements:
    """The statements the app's engine sends, as they are sent."""

    def __init__(self, lab: Lab) -> None:
        self.sent: list[str] = []
        event.listen(lab.client.app.state.engine, "before_cursor_execute", self._seen)  # type: ignore[attr-defined]

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.sent.append(" ".join(statement.split())[:80])

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


def test_an_answer_and_the_next_item_page_are_five_statements(pg: Lab) -> None:
    """Each main item answered (POST) and the next item claimed and shown (GET):
    2 + 3 statements; the code before sent 3 + 8 (separate rater lock, pending
    item, gold pool, item and progress queries, and the answer as update, insert)."""
    study = pg.study(training={"n": 0}, gold={"n": 0}, items_per_rater=4)
    token = pg.invite(study)[0]
    csrf = pg.start(token)
    seen = Statements(pg)
    cur = pg.current(token)
    assert cur is not None
    seen.take()
    per_label = []
    for _ in range(3):
        r = pg.answer(token, csrf, cur[0], True)
        assert r.headers["x-sandwich-label"] == "saved"
        answer = seen.take()
        cur = pg.current(token)  # claims the next main slot
        assert cur is not None
        page = seen.take()
        per_label.append((len(answer), len(page)))
        assert answer[1].startswith("WITH a AS (UPDATE assignments"), answer
        assert page[2].startswith("WITH c AS (UPDATE assignments"), page  # claim + item
    assert per_label == [(2, 3)] * 3, (per_label, page)
    pg.current(token)  # a reload of a pending item: rater, assignments, item
    assert len(seen.take()) == 3
    with pg.Sessions() as s:
        answered = s.scalars(select(Assignment).where(Assignment.answered_at.is_not(None))).all()
    assert len(answered) == 3 and len(pg.labels()) == 3


def test_one_statement_answer_keeps_duplicates_gone_and_fields(pg: Lab) -> None:
    """The one-statement answer stores what the two statements did (the label's
    item, condition, role flags, seconds, assignment), a second submit of the
    same item is a duplicate, and another rater's key stores nothing."""
    study = pg.study(training={"n": 1}, gold={"n": 0})
    first, second = pg.invite(study, 2)
    csrf = pg.start(first)
    cur = pg.current(first)
    assert cur is not None
    r = pg.answer(first, csrf, cur[0], False, confidence=70, reason="a  b")
    assert r.headers["x-sandwich-label"] == "saved"
    assert r.headers["location"].endswith(f"/feedback/{cur[0]}")  # training: role came back
    again = pg.answer(first, csrf, cur[0], True)
    assert again.headers["x-sandwich-label"] == "duplicate"
    other_csrf = pg.start(second)
    assert pg.answer(second, other_csrf, cur[0], True).headers["x-sandwich-label"] == "gone"
    (label,) = pg.labels()
    with pg.Sessions() as s:
        a = s.scalar(select(Assignment).where(Assignment.key == cur[0]))
    assert a is not None and a.answered_at is not None and a.assigned_at is not None
    assert (label.assignment_id, label.item_id, label.condition) == (a.id, a.item_id, a.condition)
    assert label.is_training and not label.is_gold and not label.timed_out
    stored = (label.answer, label.confidence, label.reason, label.swapped)
    assert stored == (False, 0.7, "a b", None)
    assert label.created_at == a.answered_at
    expected = (a.answered_at - a.assigned_at).total_seconds()
    assert label.seconds == pytest.approx(expected, abs=1e-6)


def test_a_label_builds_no_statement_of_its_own(pg: Lab) -> None:
    """Every statement a label runs on PostgreSQL (the answer, the rater lookup
    with its lock, their assignments, the claim with its item) is built once per
    process and run with the label's values as parameters: the second and third
    labels run the very statement objects the first ran. Building them per
    request (the answer's and the claim's CTEs, their column proxies and ORM
    aliases, their cache keys) cost about 3 ms of a server worker's CPU per
    label under a crowd (10.2 -> 6.3 ms, benchmarks/feedback_load.py)."""
    study = pg.study(training={"n": 0}, gold={"n": 0}, items_per_rater=4)
    token = pg.invite(study)[0]
    csrf = pg.start(token)
    cur = pg.current(token)
    assert cur is not None
    ran: list[Any] = []  # the statements themselves (kept alive: no id is reused)

    def seen(state: ORMExecuteState) -> None:
        ran.append(state.statement)

    event.listen(Session, "do_orm_execute", seen)
    try:
        per_label = []
        for _ in range(3):
            ran.clear()
            assert pg.answer(token, csrf, cur[0], True).headers["x-sandwich-label"] == "saved"
            cur = pg.current(token)  # claims the next main slot
            assert cur is not None
            per_label.append(list(ran))
    finally:
        event.remove(Session, "do_orm_execute", seen)
    assert len(per_label[0]) == 5, per_label  # answer: rater, answer; page: rater, mine, claim
    for later in per_label[1:]:
        assert len(later) == 5 and all(a is b for a, b in zip(later, per_label[0], strict=True))
    assert len(pg.labels()) == 3
