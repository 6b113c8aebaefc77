"""Crowd-study checks through the real app (TestClient, SQLite in tmp_path):
comprehension questions, attention checks and the exclusion rule, the overlap
reached, a confidence without a default, and an enforced time limit."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console
from sqlalchemy import func, select

from sandwich.errors import ConfigError
from sandwich.feedback.analysis.console_tables import print_status
from sandwich.feedback.analysis.export import export_labels
from sandwich.feedback.analysis.study_status import study_status
from sandwich.feedback.store.checks import attention_positions
from sandwich.feedback.store.db import Assignment, Label, Rater, RaterCheck
from sandwich.feedback.store.studies import get_study, study_config, token_hash
from sandwich.feedback.study_config import parse_study

from .conftest import truth_of  # type: ignore[import-not-found]

COMPREHENSION = {
    "questions": [
        {
            "question": "What do you answer when you think a statement is false?",
            "options": ["True", "False", "Skip the item"],
            "answer": "False",
        }
    ],
    "attempts": 2,
}
ATTENTION = {
    "items": [
        {"text": "To show you are reading, answer False.", "answer": False},
        {"text": "This is a check: please answer True.", "answer": True},
    ],
    "max_failed": 0,
}
INSTRUCTED = {x["text"]: x["answer"] for x in ATTENTION["items"]}  # type: ignore[index]


def careful(text: str) -> bool:
    return INSTRUCTED[text] if text in INSTRUCTED else truth_of(text)


def comprehend(lab: Any, token: str, csrf: str, option: int) -> Any:
    return lab.client.post(
        f"/r/{token}/comprehension", data={"csrf": csrf, "q0": str(option)}, follow_redirects=False
    )


def status_text(st: Any) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_status(st, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def rater_id(lab: Any, token: str) -> int:
    with lab.Sessions() as s:
        return int(s.scalar(select(Rater.id).where(Rater.token_hash == token_hash(token))))


# --- 1. comprehension ----------------------------------------------------------------


def test_comprehension_two_tries_then_a_polite_end(lab, researcher) -> None:
    study = lab.study(comprehension=COMPREHENSION)
    good, bad = lab.invite(study, 2)  # between design: unassisted, assisted
    csrf = lab.start(bad)
    page = lab.client.get(f"/r/{bad}").text
    assert 'id="comprehension-form"' in page and 'name="assignment_id"' not in page
    assert "What do you answer when you think a statement is false?" in page
    first = comprehend(lab, bad, csrf, 0)
    assert first.headers["x-sandwich-comprehension"] == "retry"
    page = lab.client.get(f"/r/{bad}").text
    assert 'id="comprehension-retry"' in page and "1 try left" in page
    assert comprehend(lab, bad, csrf, 2).headers["x-sandwich-comprehension"] == "screened-out"
    end = lab.client.get(f"/r/{bad}").text
    assert 'id="screened-out"' in end and "return the task" in end
    assert "DONE-1234" not in end and "completion-code" not in end
    # a third try changes nothing; the rater never got an item
    assert comprehend(lab, bad, csrf, 1).headers["x-sandwich-comprehension"] == "screened-out"
    assert 'id="screened-out"' in lab.client.get(f"/r/{bad}").text
    bad_id = rater_id(lab, bad)
    with lab.Sessions() as s:
        n_items = s.scalar(select(func.count()).where(Assignment.rater_id == bad_id))
        check = s.get(RaterCheck, bad_id)
    assert n_items == 0 and check is not None and check.comprehension_attempts == 2
    # the other rater passes on the second try and gets items and the code
    csrf = lab.start(good)
    assert comprehend(lab, good, csrf, 0).headers["x-sandwich-comprehension"] == "retry"
    assert comprehend(lab, good, csrf, 1).headers["x-sandwich-comprehension"] == "passed"
    assert re.search(r'id="completion-code">DONE-1234-\w+<', lab.finish(good))
    with lab.Sessions() as s:
        st = study_status(s, get_study(s, study), n_boot=50)
    assert st.checks == {"screened_out": 1, "excluded": 0}
    # the next rater goes to the condition that lost its rater
    with lab.Sessions() as s:
        conds = dict(s.execute(select(Rater.token_hash, Rater.condition)).all())
    assert (conds[token_hash(good)], conds[token_hash(bad)]) == ("unassisted", "assisted")
    (third,) = lab.invite(study)
    with lab.Sessions() as s:
        third_cond = select(Rater.condition).where(Rater.token_hash == token_hash(third))
        assert s.scalar(third_cond) == "assisted"
    assert "screened out (comprehension) 1" in status_text(st)
    assert st.stopped[["rater_id", "status"]].values.tolist() == [[f"inv:{bad_id}", "screened out"]]
    dash = researcher.get(f"/dashboard/{study}").text
    assert "Screened out by the comprehension questions: <strong>1</strong>" in dash
    stopped = dash.split('id="stopped"')[1].split("</table>")[0]
    assert f"<td>inv:{bad_id}</td><td>assisted</td><td>screened out</td>" in stopped


# --- 2. attention checks and the exclusion rule ------------------------------------------


def test_attention_checks_exclude_a_rater_everywhere_and_release_their_slots(
    lab, researcher, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    study = lab.study(attention=ATTENTION, n_items=12, overlap=2, items_per_rater=4)
    with lab.Sessions() as s:
        cfg = study_config(get_study(s, study))
    careless, *others = lab.invite(study, 16)
    # the careless rater answers every item right but the second attention check
    csrf = lab.start(careless)
    seen_checks = 0
    while (cur := lab.current(careless)) is not None:
        answer = careful(cur[1])
        if cur[1] in INSTRUCTED:
            seen_checks += 1
            answer = answer if seen_checks == 1 else not answer
        assert lab.answer(careless, csrf, cur[0], answer).status_code == 303
    end = lab.client.get(f"/r/{careless}").text
    assert 'class="excluded"' in end and "DONE-1234" not in end  # stopped, no code
    rid = rater_id(lab, careless)
    with lab.Sessions() as s:
        out_main = s.scalar(
            select(func.count()).where(Label.rater_id == rid, ~Label.is_gold, ~Label.is_training)
        )
        check = s.get(RaterCheck, rid)
    assert check is not None and check.excluded_at is not None
    n_out_main = int(out_main) - 2  # its two attention answers
    assert n_out_main >= 1  # it had main labels, whose slots are now released
    # the others follow the instructions; their checks sit at per-rater positions
    where: list[tuple[int, ...]] = []
    for token in others:
        csrf = lab.start(token)
        texts = []
        while (cur := lab.current(token)) is not None:
            texts.append(cur[1])
            lab.answer(token, csrf, cur[0], careful(cur[1]))
        assert 'id="completion-code">DONE-1234-' in lab.client.get(f"/r/{token}").text
        seq = texts[cfg.training.n :]
        at = tuple(k for k, t in enumerate(seq) if t in INSTRUCTED)
        if len(seq) == cfg.items_per_rater + cfg.gold.n + 2:  # a full sequence
            assert set(at) == attention_positions(cfg, rater_id(lab, token))
            where.append(at)
    assert len(where) >= 8 and len(set(where)) >= 3  # random per rater, not one fixed spot
    with lab.Sessions() as s:
        slots = s.scalar(select(func.count()).where(Assignment.role == "main"))
        st = study_status(s, get_study(s, study), n_boot=50)
        n = export_labels(s, get_study(s, study), tmp_path / "labels.csv")
    assert slots == 12 * 2 * 2 + n_out_main  # one new slot per released label
    # the analysis leaves the rater out and says so
    ex = st.exclusions
    assert ex is not None and ex.raters == 1 and ex.labels == int(out_main) + 2  # + 2 gold
    (why,) = ex.by_reason
    assert why == "failed more than 0 of 2 attention checks (1 of 2 answered wrong)"
    assert any("excluded 1 rater(s)" in note for note in st.notes)
    assert st.stopped[["rater_id", "status"]].values.tolist() == [[f"inv:{rid}", "excluded"]]
    raw = st.labels
    mine = raw["rater_id"] == f"inv:{rid}"
    assert raw.loc[mine, "excluded"].all() and not raw.loc[~mine, "excluded"].any()
    counted = raw[~raw["excluded"] & ~raw["is_attention"]]
    assert int(st.conditions["n_labels"].sum()) == len(counted)
    assert f"inv:{rid}" not in set(st.rater_quality["rater_id"])
    assert st.sandwich is not None
    main = counted[~counted["is_gold"]]
    assert st.sandwich.n_labels == main.groupby("condition").size().to_dict()
    # exactly `overlap` counted labels on every item, though the excluded rater labelled some
    assert st.overlap is not None and st.overlap.short.empty
    assert st.overlap.distribution.set_index("condition")["2"].tolist() == [12, 12]
    # the export keeps the raw data, marked, and the command says so
    from sandwich.cli import main

    assert main(["study", "export", study, "--db", lab.url, "-o", str(tmp_path / "x.csv")]) == 0
    said = capsys.readouterr().out.replace("\n", " ")
    assert "excluded 1 rater(s)" in said and "excluded = true" in said
    csv = pd.read_csv(tmp_path / "labels.csv")
    assert n == len(csv) == len(raw)
    assert csv.loc[csv["rater_id"] == f"inv:{rid}", "excluded"].all()
    assert csv["is_attention"].sum() == 2 * 16
    # the human supervisor drops them too, and says so
    from sandwich.feedback.supervisor import HumanSupervisor

    sup = HumanSupervisor(path=str(tmp_path / "labels.csv"), condition="assisted")
    with caplog.at_level(logging.WARNING, logger="sandwich.feedback.supervisor"):
        kept = sup.labels()
    assert sup.exclusions_.raters == 1 and f"inv:{rid}" not in set(kept["rater_id"])
    assert not kept["is_attention"].any()
    assert "excluded 1 rater(s)" in caplog.text
    # status and dashboard show it
    text = status_text(st)
    assert "labels left out of the analysis" in text and f"inv:{rid}" in text
    dash = researcher.get(f"/dashboard/{study}").text
    table = dash.split('id="excluded"')[1].split("</table>")[0]
    assert f"<td>inv:{rid}</td>" in table and "1 of 2 answered wrong" in table


# --- 3. overlap reached -------------------------------------------------------------------


def test_overlap_distribution_and_short_items(lab, researcher) -> None:
    study = lab.study()  # 12 items, overlap 2, 4 main items per rater, between design
    for token in lab.invite(study, 2):  # one rater per condition
        lab.finish(token)
    with lab.Sessions() as s:
        st = study_status(s, get_study(s, study), n_boot=50)
    ov = st.overlap
    assert ov is not None and ov.overlap == 2
    dist = ov.distribution.set_index("condition")
    assert dist.loc["unassisted"].tolist() == [8, 4, 0]
    assert dist.loc["assisted"].tolist() == [8, 4, 0]
    assert len(ov.short) == 24 and set(ov.short["labels"]) == {0, 1}
    text = status_text(st)
    assert "items short of 2 labels (24)" in text
    dash = researcher.get(f"/dashboard/{study}").text
    table = dash.split('id="overlap"')[1].split("</table>")[0]
    assert "<tr><td>unassisted</td><td>8</td><td>4</td><td>0</td></tr>" in table
    assert "24 (item, condition) pair(s) short of 2 labels" in dash


# --- 4. confidence without an anchor --------------------------------------------------------


def test_confidence_starts_unset_and_a_submit_without_it_is_refused(lab) -> None:
    token = lab.invite(lab.study())[0]
    csrf = lab.start(token)
    aid, _, page = lab.current(token)
    controls = re.findall(r'<input[^>]*name="confidence"[^>]*>', page)
    assert len(controls) == 6 and all('type="radio"' in c for c in controls)
    assert not any("checked" in c for c in controls)  # nothing preset: no anchor
    assert "required" in controls[0]
    form = {"csrf": csrf, "assignment_id": str(aid), "answer": "true"}
    r = lab.client.post(f"/r/{token}/answer", data=form)
    assert r.status_code == 422 and "confidence is missing" in r.text
    assert lab.labels() == []
    assert lab.current(token)[0] == aid  # still waiting for a deliberate answer


# --- 5. time limits -----------------------------------------------------------------------


def _backdate(lab: Any, key: str, seconds: float) -> None:
    with lab.Sessions.begin() as s:
        a = s.scalar(select(Assignment).where(Assignment.key == key))
        a.assigned_at -= dt.timedelta(seconds=seconds)


def test_enforced_time_limit_records_a_late_answer_as_timed_out(lab) -> None:
    study = lab.study(time_limit={"seconds": 30, "enforce": True}, training={"n": 0}, gold={"n": 0})
    token = lab.invite(study)[0]
    assert "recorded as late" in lab.client.get(f"/r/{token}").text  # the start page says so
    csrf = lab.start(token)
    aid, _, page = lab.current(token)
    assert 'data-enforced="1"' in page
    _backdate(lab, aid, 20)
    page = lab.current(token)[2]  # a reload: the countdown comes from the server's clock
    left = int(re.search(r'data-left="(\d+)"', page).group(1))  # type: ignore[union-attr]
    assert 9 <= left <= 10
    _backdate(lab, aid, 80)  # 100 s after it was assigned
    r = lab.answer(token, csrf, aid, True)
    assert r.status_code == 303 and r.headers["x-sandwich-label"] == "timed-out"
    assert r.headers["location"] == f"/r/{token}?late=1"
    assert 'id="late-notice"' in lab.client.get(r.headers["location"]).text
    again = lab.answer(token, csrf, aid, False)  # a retry stores nothing more
    assert again.headers["x-sandwich-label"] == "duplicate"
    (label,) = lab.labels()
    assert label.timed_out and label.seconds >= 100
    fast = lab.current(token)[0]
    assert lab.answer(token, csrf, fast, True).headers["x-sandwich-label"] == "saved"
    with lab.Sessions() as s:
        item, cond = s.execute(
            select(Assignment.item_id, Assignment.condition).where(Assignment.key == aid)
        ).one()
        slots = s.scalar(
            select(func.count()).where(Assignment.item_id == item, Assignment.condition == cond)
        )
        st = study_status(s, get_study(s, study), n_boot=50)
    assert slots == 3  # overlap 2 + the released one
    assert st.exclusions is not None and st.exclusions.labels == 1
    assert st.exclusions.by_reason == {"answered after the enforced time limit": (1, 1)}
    assert st.labels["excluded"].tolist() == [True, False]
    assert int(st.conditions["n_labels"].sum()) == 1  # the late answer does not count


def test_time_limit_config(make_study_file) -> None:
    base = {"name": "t", "task": {"path": "x.jsonl"}, "conditions": [{"name": "a"}]}
    cfg = parse_study({**base, "time_limit": {"seconds": 45, "enforce": True}})
    assert cfg.time_limit_seconds == 45 and cfg.enforce_time_limit
    again = parse_study(cfg.model_dump(mode="json"))  # as the database stores it
    assert again == cfg
    assert not parse_study({**base, "time_limit_seconds": 30}).enforce_time_limit
    with pytest.raises(ConfigError, match="disagree"):
        parse_study({**base, "time_limit_seconds": 30, "time_limit": {"seconds": 60}})
    bad_question = {"question": "q", "options": ["a", "b"], "answer": "c"}
    with pytest.raises(ConfigError, match="'c' is not one of the options"):
        parse_study({**base, "comprehension": {"questions": [bad_question]}})
    with pytest.raises(ConfigError, match="attention"):
        parse_study({**base, "attention": {"items": [{"text": "answer yes"}]}})


# --- the migration -------------------------------------------------------------------------


def _upgrade_keeps_labels(url: str) -> None:
    """From 0001 with a label stored, up through 0002_raters to 0003_checks; down to
    0002_raters (its columns stay), down to 0001 and up again."""
    from alembic import command
    from sqlalchemy import inspect, text

    from sandwich.feedback.store.db import make_engine
    from sandwich.feedback.store.migrate import _alembic_config

    engine = make_engine(url)
    cfg = _alembic_config()

    def run(step: Any, target: str) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, target)

    run(command.upgrade, "0001")
    with engine.begin() as conn:
        now = dt.datetime(2026, 1, 1)
        conn.execute(
            text(
                "INSERT INTO studies (id, name, config, completion_code, created_at) "
                "VALUES (1, 's', '{}', 'C', :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO items (id, study_id, key, text, gold, role, position, assistance) "
                "VALUES (1, 1, 'k', 'x', true, 'main', 0, '{}')"
            )
        )
        conn.execute(
            text("INSERT INTO raters (id, study_id, token, created_at) VALUES (1, 1, 'tok', :t)"),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO assignments (id, study_id, item_id, condition, role, rater_id) "
                "VALUES (1, 1, 1, 'c', 'main', 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO labels (study_id, rater_id, item_id, assignment_id, condition, "
                "answer, confidence, reason, seconds, is_gold, is_training, created_at) "
                "VALUES (1, 1, 1, 1, 'c', true, 0.8, '', 3.0, false, false, :t)"
            ),
            {"t": now},
        )
    run(command.upgrade, "0003_checks")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT answer, timed_out FROM labels")).one() == (True, False)
    insp = inspect(engine)
    assert "rater_checks" in insp.get_table_names()
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("labels")}
    assert ("rater_id", "item_id") in uniques  # the batch copy kept the constraints
    with engine.connect() as conn:  # 0002_raters ran underneath: the old row got a key
        assert conn.execute(text("SELECT key FROM assignments")).scalar_one() is not None
    run(command.downgrade, "0002_raters")
    insp = inspect(engine)
    assert "rater_checks" not in insp.get_table_names()
    assert "timed_out" not in {c["name"] for c in insp.get_columns("labels")}
    assert "key" in {c["name"] for c in insp.get_columns("assignments")}  # 0002 kept
    with engine.connect() as conn:
        assert conn.execute(text("SELECT answer FROM labels")).one() == (True,)
    run(command.downgrade, "0001")
    assert "key" not in {c["name"] for c in inspect(engine).get_columns("assignments")}
    run(command.upgrade, "0003_checks")
    engine.dispose()


def test_migrations_form_one_line(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from sandwich.feedback.store.migrate import _alembic_config

    script = ScriptDirectory.from_config(_alembic_config())
    rev = script.get_revision("0003_checks")
    assert rev is not None and rev.down_revision == "0002_raters"
    last = script.get_revision("0004_security")
    assert last is not None and last.down_revision == "0003_checks"
    index = script.get_revision("0005_claim_index")
    assert index is not None and index.down_revision == "0004_security"
    pairwise = script.get_revision("0006_pairwise")
    assert pairwise is not None and pairwise.down_revision == "0005_claim_index"
    assert script.get_heads() == ["0006_pairwise"]  # one line of revisions: `upgrade head` works
    _upgrade_keeps_labels(f"sqlite:///{tmp_path / 'm.sqlite'}")


@pytest.mark.integration
def test_migration_0003_on_postgresql(postgres_url: str) -> None:
    _upgrade_keeps_labels(postgres_url)


@pytest.mark.integration
def test_enforced_time_limit_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The same on a real PostgreSQL server (the released slot is a new row there too)."""
    from .conftest import Lab  # type: ignore[import-not-found]

    pg = Lab(tmp_path, postgres_url)
    try:
        test_enforced_time_limit_records_a_late_answer_as_timed_out(pg)
    finally:
        pg.client.close()
        pg.engine.dispose()


# --- simulated raters -----------------------------------------------------------------------


@pytest.mark.integration
def test_simulated_raters_pass_the_checks_and_careless_ones_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandwich.feedback.simulated_raters import simulate
    from sandwich.feedback.store.checks import check_keys
    from sandwich.feedback.store.studies import study_truth
    from sandwich.feedback.web.server import ServerProcess
    from sandwich.testing.load_audit import audit

    from .conftest import Lab  # type: ignore[import-not-found]

    # every simulated rater names its own address; the server believes it from loopback
    monkeypatch.setenv("SANDWICH_TRUSTED_PROXIES", "127.0.0.1")
    lab = Lab(tmp_path)
    study = lab.study(comprehension=COMPREHENSION, attention=ATTENTION)
    with lab.Sessions() as s:
        found = get_study(s, study)
        truth = study_truth(s, found)
        comprehension, attention = check_keys(study_config(found))
    with ServerProcess(lab.url, log=tmp_path / "server.log") as server:
        report = simulate(
            server.url, study, n_raters=10, skill=1.0, concurrency=4, trust=0.0, truth=truth,
            comprehension=comprehension, attention=attention, careless=0.5,
        )  # fmt: skip
    assert report.errors == [] and report.raters_finished == 10
    with lab.Sessions() as s:
        checks = {
            ext: (row.screened_out_at is not None, row.excluded_at is not None)
            for ext, row in s.execute(
                select(Rater.external_id, RaterCheck).join(
                    RaterCheck, RaterCheck.rater_id == Rater.id
                )
            ).all()
        }
    codes = report.completion_codes
    for pid, code in codes.items():
        stopped = any(checks.get(pid, (False, False)))
        assert (code is None) == stopped, (pid, code, checks.get(pid))
    earned = [c for c in codes.values() if c is not None]
    assert len(earned) >= 3 and len(set(earned)) == len(earned)  # careful raters get through
    assert all(re.fullmatch(r"DONE-1234-[A-Z2-7]{10}", c) for c in earned)  # one code each
    assert sum(c is None for c in codes.values()) >= 2  # careless ones are stopped
    assert audit(lab.url, study, report).ok


def test_a_study_stored_before_the_checks_existed_is_still_the_same_study(lab) -> None:
    """`study create` again on a study whose stored config lacks the new fields is a no-op."""
    from sandwich.feedback.store.db import Study
    from sandwich.feedback.store.studies import create_study
    from sandwich.feedback.study_config import load_study

    study = lab.study()
    with lab.Sessions.begin() as s:  # as an older version stored it
        row = s.scalar(select(Study).where(Study.name == study))
        row.config = {
            k: v
            for k, v in row.config.items()
            if k not in ("time_limit", "comprehension", "attention")
        }
        first = row.id
    with lab.Sessions.begin() as s:
        again = create_study(s, load_study(lab.root / study / f"{study}.yaml"))
        assert again.id == first


# --- the checks together with rater integrity ------------------------------------------------


def _pid(n: int) -> str:
    """A Prolific-like participant id (24 hex characters)."""
    return f"{n:024x}"


def _enter(lab: Any, study: str, participant: str) -> str:
    r = lab.client.get(f"/s/{study}/start", params={"PID": participant}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(r.headers["location"]).removeprefix("/r/")


def test_pid_entry_comprehension_attention_gold_pool_and_a_code_per_rater(lab) -> None:
    """Through the open link: PID entry, the comprehension gate, then items with the
    attention checks at the rater's own positions and gold items drawn from the
    rater's own share of the pool at the rater's own positions, each named by an
    opaque key; a late answer is timed out; each rater gets their own code."""
    from sandwich.feedback.store.assign import gold_plan
    from sandwich.feedback.store.studies import completion_code, verify_code

    study = lab.study(
        comprehension=COMPREHENSION,
        attention=ATTENTION,
        gold={"n": 2, "pool": 6, "pass_threshold": 0.5},
        time_limit={"seconds": 30, "enforce": True},
        entry={"max_pids_per_address": None},  # the test client has one address
        n_items=12,
        overlap=3,
        items_per_rater=4,
    )
    with lab.Sessions() as s:
        cfg = study_config(get_study(s, study))
    secret = lab_secret(lab)
    codes, att_at, gold_items = [], set(), set()
    for n in range(6):
        token = _enter(lab, study, _pid(n))
        csrf = lab.start(token)
        assert 'id="comprehension-form"' in lab.client.get(f"/r/{token}").text  # gate first
        assert comprehend(lab, token, csrf, 1).headers["x-sandwich-comprehension"] == "passed"
        keys = []
        while (cur := lab.current(token)) is not None:
            keys.append(cur[0])
            late = n == 0 and len(keys) == 2  # one late answer: stored as timed out
            if late:
                _backdate(lab, cur[0], 60)
            r = lab.answer(token, csrf, cur[0], careful(cur[1]))
            assert r.headers["x-sandwich-label"] == ("timed-out" if late else "saved")
        rid = rater_id(lab, token)
        with lab.Sessions() as s:
            rater = s.get(Rater, rid)
            rows = s.execute(
                select(Assignment.key, Assignment.role, Assignment.item_id)
                .where(Assignment.rater_id == rid)
                .order_by(Assignment.position)
            ).all()
            positions, planned_gold = gold_plan(s, rater, cfg)
            secret_code = completion_code(secret, get_study(s, study), rid)
            check = verify_code(s, secret, get_study(s, study), secret_code)
        assert [k for k, _, _ in rows] == keys and all(len(k) >= 20 for k in keys)  # opaque keys
        seq = [(role, item) for _, role, item in rows if role != "training"]
        assert {k for k, (role, _) in enumerate(seq) if role == "attention"} == (
            attention_positions(cfg, rid)
        )
        main_gold = [(role, item) for role, item in seq if role != "attention"]
        assert {k for k, (role, _) in enumerate(main_gold) if role == "gold"} == positions
        assert [item for role, item in main_gold if role == "gold"] == planned_gold
        att_at.add(frozenset(attention_positions(cfg, rid)))
        gold_items |= set(planned_gold)
        page = lab.client.get(f"/r/{token}").text
        code = re.search(r'id="completion-code">([^<]+)<', page)
        assert code is not None and code.group(1) == secret_code and check.earned
        codes.append(code.group(1))
    assert len(set(codes)) == 6 and all(c.startswith("DONE-1234-") for c in codes)
    assert len(att_at) >= 2 and len(gold_items) >= 3  # per rater, not one fixed plan
    with lab.Sessions() as s:
        st = study_status(s, get_study(s, study), n_boot=50)
    assert st.exclusions is not None
    assert st.exclusions.by_reason == {"answered after the enforced time limit": (1, 1)}
    assert set(st.labels["rater_id"]) == {f"pid:{_pid(n)}" for n in range(6)}


def lab_secret(lab: Any) -> str:
    from sandwich.feedback.store.migrate import ensure_secret

    return ensure_secret(lab.engine)


def test_verify_code_refuses_the_codes_of_screened_out_and_excluded_raters(
    lab, capsys: Any
) -> None:
    """No code is shown to a rater the checks stopped, and the code they would have
    had is refused by `sandwich study verify-code`, which says why."""
    from sandwich.cli import main
    from sandwich.feedback.store.studies import completion_code

    study = lab.study(comprehension=COMPREHENSION, attention=ATTENTION)
    good, screened, careless = lab.invite(study, 3)
    csrf = lab.start(screened)
    for _ in range(2):
        comprehend(lab, screened, csrf, 0)
    assert 'id="screened-out"' in lab.client.get(f"/r/{screened}").text
    csrf = lab.start(careless)
    comprehend(lab, careless, csrf, 1)
    while (cur := lab.current(careless)) is not None:  # every item right, every check wrong
        answer = not INSTRUCTED[cur[1]] if cur[1] in INSTRUCTED else truth_of(cur[1])
        lab.answer(careless, csrf, cur[0], answer)
    end = lab.client.get(f"/r/{careless}").text
    assert 'class="excluded"' in end and "completion-code" not in end
    csrf = lab.start(good)
    comprehend(lab, good, csrf, 1)
    shown = re.search(r'id="completion-code">([^<]+)<', lab.finish(good, careful))
    assert shown is not None
    secret = lab_secret(lab)
    ids = {t: rater_id(lab, t) for t in (screened, careless)}
    with lab.Sessions() as s:
        found = get_study(s, study)
        would = {t: completion_code(secret, found, rid) for t, rid in ids.items()}
    capsys.readouterr()
    assert main(["study", "verify-code", study, "--db", lab.url, shown.group(1)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if shown.group(1) in line)
    assert row.split("│")[-2].strip() == "yes"  # the "valid" column (a code may contain "NO")
    for token, why in ((screened, "screened out"), (careless, "excluded: failed more than 0")):
        assert main(["study", "verify-code", study, "--db", lab.url, would[token]]) != 0
        captured = capsys.readouterr()
        out = " ".join(captured.out.split())
        assert why in out and f"inv:{ids[token]}" in out
        assert "not earned completion codes" in " ".join(captured.err.split())


def test_a_failing_overlap_report_becomes_a_note(lab, researcher, monkeypatch) -> None:
    """Like every other analysis, the overlap report degrades to a note."""
    import sandwich.feedback.analysis.study_status as status

    study = lab.study()
    lab.finish(lab.invite(study)[0])

    def broken(*_a: object, **_k: object) -> None:
        raise ValueError("cannot count this")

    monkeypatch.setattr(status, "overlap_report", broken)
    with lab.Sessions() as s:
        st = study_status(s, get_study(s, study), n_boot=50)
    assert st.overlap is None and "overlap not available: cannot count this" in st.notes
    page = researcher.get(f"/dashboard/{study}")
    assert page.status_code == 200 and "overlap not available: cannot count this" in page.text


def test_the_dashboard_plot_shows_only_main_labels_that_count(lab) -> None:
    """An excluded rater's labels and the attention-check answers stay out of the
    plot, as out of every other number on the dashboard."""
    from sandwich.feedback.analysis.plots import plotted_labels, study_plot

    study = lab.study(attention=ATTENTION)
    careless, good = lab.invite(study, 2)
    csrf = lab.start(careless)
    while (cur := lab.current(careless)) is not None:  # every check wrong: excluded
        answer = not INSTRUCTED[cur[1]] if cur[1] in INSTRUCTED else truth_of(cur[1])
        lab.answer(careless, csrf, cur[0], answer)
    lab.finish(good, careful)
    with lab.Sessions() as s:
        st = study_status(s, get_study(s, study), n_boot=50)
    raw = st.labels
    shown = plotted_labels(st)
    expected = raw[~raw["excluded"] & ~raw["is_attention"] & ~raw["is_gold"]]
    assert raw["excluded"].any() and raw["is_attention"].any()
    assert len(shown) == len(expected) == 4  # the good rater's 4 main items
    assert set(shown["rater_id"]) == {f"inv:{rater_id(lab, good)}"}
    assert study_plot(st).startswith(b"\x89PNG")
