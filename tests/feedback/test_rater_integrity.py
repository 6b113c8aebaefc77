"""A crowd study one participant cannot game, through the real app (HTTP):
separate rater namespaces, analysis pages that never fail with a 500, the PID
format and the per-address cap, gold items drawn per rater and never
explained, opaque assignment keys, per-rater completion codes, hashed tokens.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, text

from sandwich.cli import main
from sandwich.errors import ConfigError
from sandwich.feedback.analysis.label_frame import read_labels
from sandwich.feedback.simulated_raters import simulated_address, simulated_pid
from sandwich.feedback.store.db import Assignment, Item, Rater
from sandwich.feedback.store.migrate import ensure_secret
from sandwich.feedback.store.studies import (
    completion_code,
    get_study,
    token_hash,
    verify_code,
)
from sandwich.feedback.study_config import PROLIFIC_PID

from .conftest import Lab, truth_of  # type: ignore[import-not-found]

OPEN = {"pid_pattern": ".+", "max_pids_per_address": None}  # any id, no cap


def pid(n: int) -> str:
    """A Prolific-like participant id (24 hex characters)."""
    return f"{n:024x}"


def enter(lab: Lab, study: str, participant: str, **headers: str) -> str:
    """The token the open link hands to ``participant`` (asserts it was let in)."""
    r = lab.client.get(
        f"/s/{study}/start", params={"PID": participant}, headers=headers, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    return str(r.headers["location"]).removeprefix("/r/")


def walk(lab: Lab, token: str) -> list[tuple[str, str]]:
    """Answer every item right; return (key, role) per item, in order."""
    csrf = lab.start(token)
    seen = []
    while (cur := lab.current(token)) is not None:
        r = lab.answer(token, csrf, cur[0], truth_of(cur[1]))
        assert r.headers["x-sandwich-label"] == "saved"
        seen.append(cur[0])
    with lab.Sessions() as s:
        roles = dict(s.execute(select(Assignment.key, Assignment.role)).all())
    return [(k, roles[k]) for k in seen]


# 1. namespaces, and analyses that degrade to a note


def test_a_pid_cannot_pass_for_an_invited_rater(lab, researcher, tmp_path, monkeypatch) -> None:
    """``?PID=r1`` (and ``?PID=inv:1``) next to invited rater 1, all answering the
    same gold items: every analysis page, the status command and the export work,
    and the three stay three raters."""
    study = lab.study(entry=OPEN, gold={"n": 2, "pool": 2, "pass_threshold": 0.5})
    invited = lab.invite(study)[0]
    for token in (invited, enter(lab, study, "r1"), enter(lab, study, "inv:1")):
        lab.finish(token)
    csv = researcher.get(f"/dashboard/{study}/labels.csv")
    assert csv.status_code == 200
    raters = {line.split(",")[2] for line in csv.text.splitlines()[1:]}
    assert raters == {"inv:1", "pid:r1", "pid:inv:1"}
    page = researcher.get(f"/dashboard/{study}")
    assert page.status_code == 200 and "not available" not in page.text
    assert "sandwich" in page.text
    plot = researcher.get(f"/dashboard/{study}/plot.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    monkeypatch.setenv("SANDWICH_DB", lab.url)
    assert main(["study", "status", study]) == 0
    out = tmp_path / "labels.csv"
    assert main(["study", "export", study, "-o", str(out)]) == 0
    frame = read_labels(out)  # reads back as label records (the `human` supervisor's input)
    assert set(frame["rater_id"]) == raters
    assert Counter(frame[frame["is_gold"]]["item_id"]).most_common(1)[0][1] == 3


def test_analysis_failures_become_notes_not_500s(
    lab, researcher, tmp_path, monkeypatch, capsys
) -> None:
    """Whatever makes the analysis fail (here: the label check), the dashboard,
    its plot, labels.csv, `study status` and `study export` answer with a note."""
    import sandwich.feedback.analysis.label_frame as label_table
    import sandwich.feedback.analysis.plots as plots

    study = lab.study()
    lab.finish(lab.invite(study)[0])

    def broken(*_a: object, **_k: object) -> None:
        raise ConfigError("rater 'r1' labelled item 'x' twice (one label per rater and item)")

    def no_plot(*_a: object, **_k: object) -> bytes:
        raise ValueError("cannot draw this")

    monkeypatch.setattr(label_table, "as_label_frame", broken)
    monkeypatch.setattr(plots, "_plot", no_plot)
    page = researcher.get(f"/dashboard/{study}")
    assert page.status_code == 200
    assert "analysis not available: rater &#39;r1&#39; labelled item" in page.text
    plot = researcher.get(f"/dashboard/{study}/plot.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    assert researcher.get(f"/dashboard/{study}/labels.csv").status_code == 200
    monkeypatch.setenv("SANDWICH_DB", lab.url)
    capsys.readouterr()
    assert main(["study", "status", study]) == 0
    assert "analysis not available: rater 'r1' labelled item 'x' twice" in capsys.readouterr().out
    assert main(["study", "export", study, "-o", str(tmp_path / "l.csv")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "wrote 6 labels" in out and "cannot be read back as label records" in out


# 2. one person, one rater: PID format, per-address cap, gold pool, codes


def test_new_pids_must_look_like_prolific_ids(lab) -> None:
    study = lab.study()
    for bad in ("r1", "P123", "5F3A" + "0" * 20, pid(1) + "0", "<script>"):
        r = lab.client.get(f"/s/{study}/start", params={"PID": bad})
        assert r.status_code == 403 and "not in the form this study expects" in r.text, bad
    enter(lab, study, pid(1))
    assert re.fullmatch(PROLIFIC_PID, simulated_pid("sim-", 0, 7))
    custom = lab.study(name="mturk", entry={"pid_pattern": r"A[0-9A-Z]{12,13}"})
    enter(lab, custom, "A1B2C3D4E5F6G7")
    assert lab.client.get(f"/s/{custom}/start", params={"PID": pid(2)}).status_code == 403


def test_new_pids_per_client_address_are_capped(lab) -> None:
    """Three new ids from one address (the default cap); a fourth is refused,
    re-entry of a known id is not; X-Forwarded-For from an untrusted peer is ignored."""
    study = lab.study()
    first = [enter(lab, study, pid(n), **{"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(3)]
    r = lab.client.get(
        f"/s/{study}/start", params={"PID": pid(9)}, headers={"X-Forwarded-For": "198.51.100.9"}
    )
    assert r.status_code == 403 and "too many participant ids" in r.text
    assert enter(lab, study, pid(0)) not in first  # a known id comes back (with a new link)
    with lab.Sessions() as s:
        study_id = get_study(s, study).id
        stored = s.scalars(select(Rater.entry_address).where(Rater.study_id == study_id)).all()
    assert len(stored) == 3 and len(set(stored)) == 1
    assert stored[0] != "testclient" and len(stored[0]) == 64  # keyed, not the address itself
    loose = lab.study(name="loose", entry={"max_pids_per_address": None})
    for n in range(5):
        enter(lab, loose, pid(n))


def test_simultaneous_new_pids_from_one_address_stay_within_the_cap(lab) -> None:
    """Eight new ids from one address at once: exactly the cap (3) get in."""
    study = lab.study(name="rush")
    codes: list[int] = []

    def come_in(n: int) -> None:
        r = lab.client.get(
            f"/s/{study}/start", params={"PID": pid(100 + n)}, follow_redirects=False
        )
        codes.append(r.status_code)

    threads = [threading.Thread(target=come_in, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(codes) == [303] * 3 + [403] * 5
    with lab.Sessions() as s:
        study_id = get_study(s, study).id
        assert len(s.scalars(select(Rater.id).where(Rater.study_id == study_id)).all()) == 3


@pytest.mark.integration
def test_entry_rules_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The cap (under a row lock), namespaces and per-rater gold on a real PostgreSQL server."""
    pg = Lab(tmp_path, postgres_url)
    try:
        test_simultaneous_new_pids_from_one_address_stay_within_the_cap(pg)
        test_new_pids_per_client_address_are_capped(pg)
        test_gold_items_and_positions_differ_between_raters(pg)
    finally:
        pg.client.close()
        pg.engine.dispose()


def test_trusted_proxy_forwards_the_client_address(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SANDWICH_TRUSTED_PROXIES", "10.0.0.1, testclient")
    lab = Lab(tmp_path)  # TestClient's peer is "testclient": a trusted proxy here
    try:
        study = lab.study(entry={"max_pids_per_address": 1})
        enter(lab, study, pid(1), **{"X-Forwarded-For": "203.0.113.5"})
        enter(lab, study, pid(2), **{"X-Forwarded-For": "203.0.113.5, 203.0.113.6, 10.0.0.1"})
        for hop in ("203.0.113.5", "198.51.100.1, 203.0.113.6"):  # right-most untrusted hop
            r = lab.client.get(
                f"/s/{study}/start", params={"PID": pid(3)}, headers={"X-Forwarded-For": hop}
            )
            assert r.status_code == 403, hop
        enter(lab, study, pid(3), **{"X-Forwarded-For": simulated_address(70000)})
    finally:
        lab.client.close()
        lab.engine.dispose()


def test_gold_items_and_positions_differ_between_raters(lab) -> None:
    """Each rater gets 2 gold items out of a pool of 6, at positions of their own;
    gold answers get no feedback page."""
    study = lab.study(name="gold-draw", n_items=12, overlap=3, items_per_rater=6)
    plans = []
    for token in lab.invite(study, 8):
        walk(lab, token)
        with lab.Sessions() as s:
            rid = s.scalar(select(Rater.id).where(Rater.token_hash == token_hash(token)))
            rows = s.execute(
                select(Assignment.position, Assignment.role, Item.key)
                .join(Item, Item.id == Assignment.item_id)
                .where(Assignment.rater_id == rid)
                .order_by(Assignment.position)
            ).all()
        gold = [(pos, key) for pos, role, key in rows if role == "gold"]
        assert len(gold) == 2 and rows[0][1] == "training"
        plans.append(gold)
    items = [frozenset(k for _, k in g) for g in plans]
    positions = [tuple(p for p, _ in g) for g in plans]
    assert len(set().union(*items)) >= 4  # drawn from the pool of 6, not a fixed 2
    assert len(set(items)) >= 4 and len(set(positions)) >= 4


def test_completion_codes_are_per_rater_and_verifiable(lab, tmp_path, monkeypatch, capsys) -> None:
    study = lab.study()
    alice, bob, carol = lab.invite(study, 3)
    codes = []
    for token in (alice, bob):
        page = lab.finish(token)
        codes.append(re.search(r'id="completion-code">([^<]+)<', page)[1])  # type: ignore[index]
    assert codes[0] != codes[1] and all(c.startswith("DONE-1234-") for c in codes)
    failed = lab.finish(carol, lambda t: not truth_of(t))  # wrong on every gold item
    assert 'id="failed"' in failed and "DONE-1234" not in failed
    monkeypatch.setenv("SANDWICH_DB", lab.url)
    capsys.readouterr()
    assert main(["study", "verify-code", study, *codes]) == 0
    out = capsys.readouterr().out
    assert "inv:1" in out and "inv:2" in out and "NO" not in out
    for fake in ("DONE-1234", codes[0][:-1] + ("A" if codes[0][-1] != "A" else "B")):
        assert main(["study", "verify-code", study, fake]) != 0
        captured = capsys.readouterr()
        assert "(no rater of this study)" in captured.out
        assert "not earned completion codes" in " ".join(captured.err.split())
    # the code carol would have had is refused: she failed the gold checks
    secret = ensure_secret(lab.engine)
    with lab.Sessions() as s:
        study_row = get_study(s, study)
        carol_id = s.scalar(select(Rater.id).where(Rater.token_hash == token_hash(carol)))
        check = verify_code(s, secret, study_row, "x")
        carols = completion_code(secret, study_row, carol_id)
    assert check.rater is None
    assert main(["study", "verify-code", study, carols]) != 0
    assert re.search(r"inv:3\s*│\s*True\s*│\s*False\s*│\s*-\s*│\s*NO", capsys.readouterr().out)


# 3. nothing on the page tells gold from main


def test_assignments_are_named_by_opaque_keys(lab) -> None:
    study = lab.study()
    token = lab.invite(study)[0]
    keys = [k for k, _ in walk(lab, token)]
    with lab.Sessions() as s:
        ids = dict(s.execute(select(Assignment.key, Assignment.id)).all())
    assert len(set(keys)) == len(keys) == 7
    assert all(len(k) >= 20 and k != str(ids[k]) for k in keys)
    # a row id (what the form used to carry) names nothing
    other = lab.invite(study)[0]
    csrf = lab.start(other)
    cur = lab.current(other)
    with lab.Sessions() as s:
        row = s.scalar(select(Assignment.id).where(Assignment.key == cur[0]))
    assert lab.answer(other, csrf, str(row), True).headers["x-sandwich-label"] == "gone"


# 4. rater tokens at rest


def test_database_holds_token_hashes_only(lab) -> None:
    study = lab.study()
    token = lab.invite(study)[0]
    pid_token = enter(lab, study, pid(5))
    with lab.Sessions() as s:
        stored = set(s.scalars(select(Rater.token_hash)).all())
    assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in (token, pid_token)}
    raw = (lab.root / "studies.sqlite").read_bytes() + _wal(lab.root)
    assert token.encode() not in raw and pid_token.encode() not in raw
    for leaked in stored:  # a copied database opens no session
        assert lab.client.get(f"/r/{leaked}").status_code == 404
    assert lab.client.get(f"/r/{token}").status_code == 200


def _wal(root: Path) -> bytes:
    wal = root / "studies.sqlite-wal"
    return wal.read_bytes() if wal.exists() else b""


def test_old_database_migrates_and_its_links_keep_working(tmp_path: Path) -> None:
    _old_database_migrates(tmp_path, f"sqlite:///{tmp_path / 'studies.sqlite'}")


@pytest.mark.integration
def test_old_database_migrates_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    _old_database_migrates(tmp_path, postgres_url)


def _old_database_migrates(tmp_path: Path, url: str) -> None:
    """A database at revision 0001 (plain tokens, no keys) upgrades: the old invite
    link still works, its pending item gets a key, the token is stored hashed.
    The 0001 database is made by downgrading a new one and putting the plain
    token back where 0001 kept it."""
    from alembic import command

    from sandwich.feedback.store.migrate import _alembic_config

    lab = Lab(tmp_path, url)
    try:
        study = lab.study()
        token = lab.invite(study)[0]
        lab.start(token)
        key = lab.current(token)[0]
        cfg = _alembic_config()
        with lab.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
            conn.execute(text("UPDATE raters SET token = :t"), {"t": token})
    finally:
        lab.client.close()
        lab.engine.dispose()
    migrated = Lab(tmp_path, url)  # migrate() runs 0002 and then 0003
    try:
        with migrated.Sessions() as s:
            assert s.scalar(select(Rater.token_hash)) == token_hash(token)
            keys = s.scalars(select(Assignment.key).where(Assignment.rater_id.is_not(None))).all()
        assert len(keys) == 1 and None not in keys and key not in keys  # a fresh key
        page = migrated.client.get(f"/r/{token}")
        assert page.status_code == 200 and 'name="assignment_id"' in page.text
        migrated.finish(token)
        assert len(migrated.labels()) == 7
    finally:
        migrated.client.close()
        migrated.engine.dispose()
