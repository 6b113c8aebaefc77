"""Assignment: overlap met and never exceeded, no item twice to a rater, least-
labelled first, conditions balanced, safe under concurrent raters."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import numpy as np
import pytest
from sqlalchemy import func, select, update

from sandwich.feedback.store.answers import Outcome, record
from sandwich.feedback.store.assign import gold_plan, gold_positions, next_assignment
from sandwich.feedback.store.db import Assignment, Label, Rater, Study
from sandwich.feedback.store.studies import study_config, token_hash


def _run_rater(lab, token: str, lease: dt.timedelta | None = None) -> list[Assignment]:
    """Answer everything the rater gets, through the Python API; return their assignments."""
    got = []
    while True:
        with lab.Sessions.begin() as s:
            rater = s.scalar(select(Rater).where(Rater.token_hash == token_hash(token)))
            cfg = study_config(s.get(Study, rater.study_id))
            a = next_assignment(s, rater, cfg, **({"lease": lease} if lease else {}))
            if a is None:
                return got
            got.append(a)
            assert record(s, rater, a.key, True, 0.9, "") is Outcome.SAVED


def _main_counts(lab) -> Counter:
    with lab.Sessions() as s:
        rows = s.execute(
            select(Label.item_id, Label.condition).where(~Label.is_gold, ~Label.is_training)
        ).all()
    return Counter(rows)


def test_gold_positions_are_drawn_per_rater() -> None:
    def draw(seed: int) -> set[int]:
        return gold_positions(12, 4, np.random.default_rng(seed))

    assert gold_positions(10, 0, np.random.default_rng(0)) == set()
    assert all(len(draw(k)) == 4 and max(draw(k)) < 16 for k in range(20))
    assert draw(1) == draw(1)  # one rater's positions are fixed
    assert len({frozenset(draw(k)) for k in range(20)}) > 10  # raters differ


def test_overlap_met_exactly_and_never_exceeded(lab) -> None:
    study = lab.study(n_items=6, overlap=3, items_per_rater=3)
    # 6 items x 2 conditions x 3 = 36 slots; 3 per rater: 12 raters fill it, 4 more find it full
    tokens = lab.invite(study, 16)
    per_rater = [_run_rater(lab, t) for t in tokens]
    counts = _main_counts(lab)
    assert len(counts) == 12 and set(counts.values()) == {3}
    late = per_rater[12:]
    assert all(not [a for a in got if a.role == "main"] for got in late)
    assert all(len([a for a in got if a.role == "gold"]) == 2 for got in late)


def test_no_item_twice_to_a_rater_and_roles(lab) -> None:
    study = lab.study(design="within", n_items=10, overlap=2, items_per_rater=8)
    for token in lab.invite(study, 4):
        got = _run_rater(lab, token)
        items = [a.item_id for a in got]
        assert len(items) == len(set(items))
        roles = [a.role for a in got]
        assert roles[:1] == ["training"]  # training first
        assert Counter(roles) == {"training": 1, "gold": 2, "main": 8}
        # gold items at this rater's own positions
        with lab.Sessions() as s:
            rater = s.scalar(select(Rater).where(Rater.token_hash == token_hash(token)))
            at, _ = gold_plan(s, rater, study_config(s.get(Study, rater.study_id)))
        assert [i for i, r in enumerate(roles[1:]) if r == "gold"] == sorted(at)


def test_least_labelled_items_first(lab) -> None:
    study = lab.study(n_items=12, overlap=3, items_per_rater=4, design="within")
    tokens = lab.invite(study, 6)
    # 6 raters x 4 = 24 = one full round of the 12 items x 2 conditions
    for t in tokens:
        _run_rater(lab, t)
    counts = _main_counts(lab)
    assert len(counts) == 24 and set(counts.values()) == {1}


def test_between_design_balances_conditions(lab) -> None:
    study = lab.study(design="between")
    lab.invite(study, 7)
    with lab.Sessions() as s:
        conds = Counter(s.scalars(select(Rater.condition)).all())
    assert conds == {"unassisted": 4, "assisted": 3}


def test_within_design_balances_conditions_per_rater(lab) -> None:
    study = lab.study(design="within", n_items=12, overlap=1, items_per_rater=6)
    token = lab.invite(study)[0]
    got = _run_rater(lab, token)
    assert Counter(a.condition for a in got if a.role == "main") == {"unassisted": 3, "assisted": 3}


def test_abandoned_slot_is_offered_again_after_the_lease(lab) -> None:
    study = lab.study(n_items=2, overlap=1, items_per_rater=2, design="within", gold={"n": 0})
    quitter, other = lab.invite(study, 2)
    with lab.Sessions.begin() as s:  # the quitter takes one item and leaves
        rater = s.scalar(select(Rater).where(Rater.token_hash == token_hash(quitter)))
        cfg = study_config(s.get(Study, rater.study_id))
        s.execute(update(Rater).values(started_at=func.now()))
        for _ in range(2):  # training item answered, then one main item claimed
            a = next_assignment(s, rater, cfg)
            if a.role == "training":
                record(s, rater, a.key, True, 0.9, "")
        taken, taken_key = a.id, a.key
    got = _run_rater(lab, other)
    assert taken not in [a.id for a in got]  # not before the lease ends
    with lab.Sessions.begin() as s:  # an hour passes
        a = s.get(Assignment, taken)
        a.assigned_at -= dt.timedelta(hours=1)
    third = lab.invite(study)[0]
    assert taken in [a.id for a in _run_rater(lab, third)]
    with lab.Sessions.begin() as s:  # the quitter's late answer is not stored
        rater = s.scalar(select(Rater).where(Rater.token_hash == token_hash(quitter)))
        assert record(s, rater, taken_key, False, 0.6, "") is Outcome.GONE


def test_concurrent_raters_never_over_assign(lab) -> None:
    """16 threads, each a rater, on one SQLite file: every slot filled once."""
    study = lab.study(n_items=10, overlap=2, items_per_rater=3)
    tokens = lab.invite(study, 16)  # 48 wanted > 40 slots: raters race for the last ones
    errors: list[BaseException] = []

    def run(t: str) -> None:
        try:
            _run_rater(lab, t)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in tokens]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    counts = _main_counts(lab)
    assert len(counts) == 20 and set(counts.values()) == {2}
    with lab.Sessions() as s:
        pairs = s.execute(select(Label.rater_id, Label.item_id)).all()
        assert len(pairs) == len(set(pairs))
        n_labels = s.scalar(select(func.count()).select_from(Label))
        n_answered = s.scalar(
            select(func.count()).select_from(Assignment).where(Assignment.answered_at.is_not(None))
        )
    assert n_labels == n_answered


@pytest.mark.integration
def test_concurrent_raters_never_over_assign_on_postgresql(tmp_path, postgres_url: str) -> None:
    """The same race on a real PostgreSQL server (row locks, SKIP LOCKED)."""
    from .conftest import Lab  # type: ignore[import-not-found]

    pg = Lab(tmp_path, postgres_url)
    try:
        test_concurrent_raters_never_over_assign(pg)
        test_simultaneous_submits_store_one_label(pg)
    finally:
        pg.client.close()
        pg.engine.dispose()


def test_simultaneous_submits_store_one_label(lab) -> None:
    """Eight threads submit the same assignment at once: one label, seven duplicates."""
    study = lab.study(name="twice")
    token = lab.invite(study)[0]
    with lab.Sessions.begin() as s:
        rater = s.scalar(select(Rater).where(Rater.token_hash == token_hash(token)))
        a = next_assignment(s, rater, study_config(s.get(Study, rater.study_id)))
        aid, key = a.id, a.key
    outcomes: list[Outcome] = []

    def submit() -> None:
        with lab.Sessions.begin() as s:
            rater = s.scalar(select(Rater).where(Rater.token_hash == token_hash(token)))
            outcomes.append(record(s, rater, key, True, 0.7, ""))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(o.value for o in outcomes) == ["duplicate"] * 7 + ["saved"]
    with lab.Sessions() as s:
        assert (
            s.scalar(select(func.count()).select_from(Label).where(Label.assignment_id == aid)) == 1
        )


def test_claiming_a_slot_walks_the_claim_index_without_sorting(tmp_path) -> None:
    """The claim reads one condition's free slots in claim order from
    ``ix_assignments_claim`` (migration 0005): no scan and sort of the study's
    assignments per claim, which cost most of a label's SQL time before."""
    from pathlib import Path

    from sqlalchemy import event

    from sandwich.feedback.store.assign import LEASE, _claim_main
    from sandwich.feedback.store.db import make_engine, session_factory
    from sandwich.feedback.store.studies import get_study, new_rater
    from sandwich.testing.synthetic_study import create_synthetic_study

    url = f"sqlite:///{Path(tmp_path) / 'studies.sqlite'}"
    create_synthetic_study(url, Path(tmp_path) / "files", n_items=50)
    engine = make_engine(url)
    plans: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _explain(conn, cursor, statement, params, context, many) -> None:
        if statement.lstrip().startswith("SELECT assignments.slot"):
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, params)
            plans.append(" | ".join(str(row[-1]) for row in rows.fetchall()))

    with session_factory(engine).begin() as s:
        rater, _ = new_rater(s, get_study(s, "load"))
        claimed = _claim_main(s, rater, ["unassisted", "assisted"], 0, LEASE)
    engine.dispose()
    assert claimed is not None and claimed.slot == 0 and claimed.rater_id == rater.id
    assert len(plans) == 2  # one walk per condition
    for plan in plans:
        assert "ix_assignments_claim" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # read in order, not sorted


def test_one_condition_claims_in_one_statement_on_the_claim_index(tmp_path) -> None:
    """Between design on SQLite: the claim is one ``UPDATE ... RETURNING`` (no
    select, savepoint and reload around it) whose free-slot subquery still walks
    ``ix_assignments_claim`` in order: less time holding the writer queue."""
    from pathlib import Path

    from sqlalchemy import event

    from sandwich.feedback.store.assign import LEASE, _claim_main
    from sandwich.feedback.store.db import make_engine, session_factory
    from sandwich.feedback.store.studies import get_study, new_rater
    from sandwich.testing.synthetic_study import create_synthetic_study

    url = f"sqlite:///{Path(tmp_path) / 'studies.sqlite'}"
    create_synthetic_study(url, Path(tmp_path) / "files", n_items=50)
    engine = make_engine(url)
    sent: list[str] = []
    plans: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _explain(conn, cursor, statement, params, context, many) -> None:
        sent.append(" ".join(statement.split())[:30])
        if statement.lstrip().startswith("UPDATE assignments"):
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, params)
            plans.append(" | ".join(str(row[-1]) for row in rows.fetchall()))

    with session_factory(engine).begin() as s:
        rater, _ = new_rater(s, get_study(s, "load"))
        sent.clear()
        claimed = _claim_main(s, rater, ["assisted"], 0, LEASE)
    engine.dispose()
    assert claimed is not None and claimed.slot == 0 and claimed.rater_id == rater.id
    assert claimed.condition == "assisted" and claimed.key
    assert [x for x in sent if not x.startswith("COMMIT")] == [sent[0]], sent
    assert sent[0].startswith("UPDATE assignments SET"), sent
    assert "ix_assignments_claim" in plans[0] and "TEMP B-TREE" not in plans[0], plans
