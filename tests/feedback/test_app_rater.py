"""The rater's pages through the real app (TestClient, SQLite in tmp_path)."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select

from sandwich.feedback.store.db import Assignment, Label, Rater
from sandwich.feedback.store.studies import token_hash

from .conftest import truth_of  # type: ignore[import-not-found]


def test_full_rater_flow_ends_with_completion_code(lab) -> None:
    study = lab.study()
    token = lab.invite(study)[0]
    start = lab.client.get(f"/r/{token}").text
    assert "Start" in start and "1 practice item" in start
    done = lab.finish(token)
    assert re.search(r'id="completion-code">DONE-1234-[A-Z2-7]{10}<', done)
    labels = lab.labels()
    assert sorted((x.is_training, x.is_gold) for x in labels) == sorted(
        [(True, False)] + [(False, True)] * 2 + [(False, False)] * 4
    )
    assert all(x.confidence == 0.8 and x.seconds >= 0 for x in labels)
    with lab.Sessions() as s:
        rater = s.scalar(select(Rater).where(Rater.token_hash == token_hash(token)))
        assert rater.started_at is not None and rater.finished_at is not None


def test_item_page_shows_assistance_for_the_rater_condition_only(lab) -> None:
    study = lab.study(explanation="Because the atlas says so.")
    unassisted, assisted = lab.invite(study, 2)  # between design: alternating conditions
    lab.start(unassisted)
    lab.start(assisted)
    plain = lab.current(unassisted)[2]
    helped = lab.current(assisted)[2]
    assert "atlas" not in plain and 'id="assistance"' not in plain
    assert "Because the atlas says so." in helped and "The model says" in helped
    for page in (plain, helped):
        assert 'type="radio" name="confidence"' in page and 'name="reason"' in page
        assert 'id="progress"' in page and 'data-limit="90"' in page


def test_feedback_after_training_only(lab) -> None:
    """Training items show the right answer; gold items, like main items, move on."""
    study = lab.study()
    token = lab.invite(study)[0]
    csrf = lab.start(token)
    kinds = []
    while (cur := lab.current(token)) is not None:
        r = lab.answer(token, csrf, cur[0], not truth_of(cur[1]))  # always wrong
        loc = r.headers["location"]
        if "/feedback/" in loc:
            page = lab.client.get(loc).text
            assert "Not quite" in page and "the correct answer is" in page
            kinds.append("feedback")
        else:
            assert loc == f"/r/{token}"
            # a main or gold item never has a feedback page
            assert lab.client.get(f"/r/{token}/feedback/{cur[0]}").status_code == 404
            kinds.append("none")
    assert kinds == ["feedback"] + ["none"] * 6
    final = lab.client.get(f"/r/{token}").text
    assert 'id="failed"' in final and "DONE-1234" not in final  # failed the gold checks


PID_A, PID_B = "5f3a" + "0" * 20, "5f3b" + "1" * 20  # Prolific-like: 24 hex characters


def test_pid_entry_makes_one_rater_per_pid(lab) -> None:
    """Re-entry with the same PID reaches the same rater through a fresh link (the
    database keeps no plain token to give back); the old link stops working."""
    study = lab.study()
    r1 = lab.client.get(f"/s/{study}/start", params={"PID": PID_A}, follow_redirects=False)
    lab.start(r1.headers["location"].removeprefix("/r/"))
    r2 = lab.client.get(f"/s/{study}/start", params={"PID": PID_A}, follow_redirects=False)
    r3 = lab.client.get(f"/s/{study}/start", params={"PID": PID_B}, follow_redirects=False)
    assert r1.status_code == r2.status_code == r3.status_code == 303
    assert len({r.headers["location"] for r in (r1, r2, r3)}) == 3
    assert lab.client.get(r1.headers["location"]).status_code == 404  # replaced by r2's
    again = lab.client.get(r2.headers["location"]).text
    assert 'name="assignment_id"' in again  # the same rater, already started
    with lab.Sessions() as s:
        assert s.scalars(select(Rater.external_id)).all() == [PID_A, PID_B]
    assert lab.client.get(f"/s/{study}/start").status_code == 400
    assert lab.client.get("/s/no-such-study/start", params={"PID": PID_A}).status_code == 404


def test_pid_entry_can_be_closed(lab) -> None:
    study = lab.study(allow_pid_entry=False)
    assert lab.client.get(f"/s/{study}/start", params={"PID": PID_A}).status_code == 404


def test_double_submit_is_stored_once(lab) -> None:
    token = lab.invite(lab.study())[0]
    csrf = lab.start(token)
    aid = lab.current(token)[0]
    first = lab.answer(token, csrf, aid, True)
    again = lab.answer(token, csrf, aid, False)  # a retry with another answer
    assert first.status_code == again.status_code == 303
    assert first.headers["x-sandwich-label"] == "saved"
    assert again.headers["x-sandwich-label"] == "duplicate"
    assert first.headers["location"] == again.headers["location"]
    labels = lab.labels()
    assert len(labels) == 1 and labels[0].answer is True


def test_simultaneous_double_submits_are_stored_once(lab) -> None:
    token = lab.invite(lab.study(name="double"))[0]
    csrf = lab.start(token)
    aid = lab.current(token)[0]
    outcomes: list[str] = []

    def click() -> None:
        outcomes.append(lab.answer(token, csrf, aid, True).headers["x-sandwich-label"])

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["duplicate"] * 7 + ["saved"]
    with lab.Sessions() as s:
        stored = s.scalars(select(Label.id).join(Assignment).where(Assignment.key == aid)).all()
    assert len(stored) == 1


def test_bad_answers_are_rejected_and_nothing_is_stored(lab) -> None:
    token = lab.invite(lab.study())[0]
    csrf = lab.start(token)
    aid = lab.current(token)[0]
    bad = [
        ({"answer": "maybe"}, "answer must be"),
        ({"confidence": "30"}, "between 50 and 100"),
        ({"confidence": "nan"}, "between 50 and 100"),
        ({"confidence": "lots"}, "must be a number"),
        ({"reason": "x" * 301}, "at most 300"),
    ]
    for change, message in bad:
        form = {"csrf": csrf, "assignment_id": aid, "answer": "true", "confidence": "70"}
        form.update(change)
        r = lab.client.post(f"/r/{token}/answer", data=form)
        assert r.status_code == 422 and message in r.text, (change, r.text)
    assert lab.labels() == []
    assert lab.current(token)[0] == aid  # the same item is still waiting


def test_reason_is_stored_on_one_line(lab) -> None:
    token = lab.invite(lab.study())[0]
    csrf = lab.start(token)
    aid = lab.current(token)[0]
    lab.answer(token, csrf, aid, True, confidence=55, reason="  it  is\nin the   atlas ")
    (label,) = lab.labels()
    assert label.reason == "it is in the atlas" and label.confidence == 0.55


def test_labels_survive_a_new_app_on_the_same_database(lab) -> None:
    """Every label is committed before the reply: a fresh app (a restarted server) sees it."""
    from fastapi.testclient import TestClient

    from sandwich.feedback.web.app import create_app

    token = lab.invite(lab.study())[0]
    csrf = lab.start(token)
    aid = lab.current(token)[0]
    assert lab.answer(token, csrf, aid, True).status_code == 303
    with lab.Sessions() as s:  # another connection sees the committed row
        assert s.scalar(select(Assignment.key).join(Label)) == aid
    fresh = TestClient(create_app(lab.url))
    page = fresh.get(f"/r/{token}").text
    assert f'value="{aid}"' not in page  # the next item, not the answered one
    assert 'name="csrf" value="' + csrf in page  # the CSRF secret survived too


def test_transcript_and_file_assistance_are_shown_escaped(lab) -> None:
    import json

    from sandwich.tasks.item import item_id

    lab.study(name="setup")  # writes the task file under lab.root / "setup"
    task = (lab.root / "setup" / "task.jsonl").read_text().splitlines()
    ids = [item_id(r["text"], r["label"]) for r in map(json.loads, task)]
    debate = lab.root / "setup" / "debate.jsonl"
    debate.write_text(
        "".join(
            json.dumps(
                {
                    "item_id": i,
                    "transcript": [
                        {"speaker": "Debater A", "text": "It is <b>true</b>."},
                        {"speaker": "Debater B", "text": "It is false & I can prove it."},
                    ],
                    "verdict": "A",
                }
            )
            + "\n"
            for i in ids
        )
    )
    notes = lab.root / "setup" / "notes.jsonl"
    notes.write_text(
        "".join(json.dumps({"item_id": i, "text": "See p. 3 <i>"}) + "\n" for i in ids)
    )
    from sandwich.feedback.store.studies import create_study
    from sandwich.feedback.study_config import parse_study

    cfg = parse_study(
        {
            "name": "assisted-kinds",
            "task": {"path": "task.jsonl"},
            "n_items": 6,
            "conditions": [
                {"name": "debate", "kind": "transcript", "path": "debate.jsonl"},
                {"name": "notes", "kind": "file", "path": "notes.jsonl"},
            ],
            "gold": {"n": 0},
            "training": {"n": 0},
        },
        base_dir=lab.root / "setup",
    )
    with lab.Sessions.begin() as s:
        study = create_study(s, cfg).name
    t_debate, t_notes = lab.invite(study, 2)
    lab.start(t_debate)
    lab.start(t_notes)
    page = lab.current(t_debate)[2]
    assert "Debater A:</span> It is &lt;b&gt;true&lt;/b&gt;." in page
    assert "It is false &amp; I can prove it." in page and "Verdict shown to you: A" in page
    assert "See p. 3 &lt;i&gt;" in lab.current(t_notes)[2]


def test_answers_after_the_time_limit_are_kept_and_flagged(lab) -> None:
    import datetime as dt

    from sandwich.feedback.analysis.study_status import labels_frame, study_status
    from sandwich.feedback.store.studies import get_study

    study = lab.study(time_limit_seconds=30, training={"n": 0}, gold={"n": 0})
    token = lab.invite(study)[0]
    csrf = lab.start(token)
    slow = lab.current(token)[0]
    with lab.Sessions.begin() as s:  # the rater took 100 s on this item
        a = s.scalar(select(Assignment).where(Assignment.key == slow))
        a.assigned_at -= dt.timedelta(seconds=100)
    assert lab.answer(token, csrf, slow, True).headers["x-sandwich-label"] == "saved"
    fast = lab.current(token)[0]
    lab.answer(token, csrf, fast, True)
    with lab.Sessions() as s:
        frame = labels_frame(s, get_study(s, study)).set_index("seconds")
        progress = study_status(s, get_study(s, study), n_boot=50).progress
    assert frame.index.max() >= 100 and frame.index.min() < 30
    assert frame["over_time"].tolist() == [x >= 30 for x in frame.index]
    assert sum(p["over_time"] for p in progress) == 1


@pytest.mark.integration
def test_rater_flow_and_double_submits_on_postgresql(tmp_path, postgres_url: str) -> None:
    """The app on a real PostgreSQL server: a full rater, and eight simultaneous submits."""
    from .conftest import Lab  # type: ignore[import-not-found]

    pg = Lab(tmp_path, postgres_url)
    try:
        test_full_rater_flow_ends_with_completion_code(pg)
        test_simultaneous_double_submits_are_stored_once(pg)
    finally:
        pg.client.close()
        pg.engine.dispose()
