"""A study condition can show the protocols layer's transcripts file as it is,
one reading per rater: which debater speaks first is counterbalanced over raters."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sandwich.errors import InputFileError
from sandwich.feedback.analysis.study_status import labels_frame
from sandwich.feedback.assistance import (
    load_assistance,
    reading_index,
    shown_assistance,
    shown_reading,
)
from sandwich.feedback.store.db import Assignment, Item, Label, Rater, Study
from sandwich.feedback.store.studies import rater_label, study_config, token_hash
from sandwich.feedback.study_config import ConditionConfig
from sandwich.protocols import read_transcripts
from sandwich.runs import load_results, parse_config, run
from sandwich.tasks.item import item_id

from .conftest import truth_of  # type: ignore[import-not-found]


def _debate_transcripts(tmp_path: Path, mode: str = "simultaneous") -> Path:
    cfg = parse_config(
        {
            "name": "t",
            "task": {"name": "cities", "n_items": 20, "seed": 3},
            "judge": {"backend": "fake", "model": "judge"},
            "assistant": {"backend": "fake", "model": "helper"},
            "protocols": [{"name": "debate", "params": {"rounds": 2, "mode": mode}}],
            "bootstrap": {"n_boot": 100},
        }
    )
    out = run(cfg, runs_root=tmp_path, progress=False)
    row = load_results(out.run_dir).protocol_rows()[0]
    return out.run_dir / row.transcripts


def test_protocol_transcripts_are_assistance(tmp_path: Path) -> None:
    path = _debate_transcripts(tmp_path)
    records = read_transcripts(path)
    ids = {r.item_id for r in records}
    cond = ConditionConfig(name="debate", kind="transcript", path=str(path))
    got = load_assistance(cond, ids)
    assert set(got) == ids
    for rec in records:
        a = got[rec.item_id]
        assert a["kind"] == "transcript" and "verdict" not in a  # the rater is the judge
        assert len(a["turns"]) == len(rec.turns) == 4
        for shown, turn in zip(a["turns"], rec.turns, strict=True):
            assert shown["text"].startswith(turn.text)
            assert shown["speaker"].startswith(turn.speaker)
            assert f"(for: {rec.choices[turn.argues_for]})" in shown["speaker"]


def test_a_broken_protocol_record_names_file_and_line(tmp_path: Path) -> None:
    path = _debate_transcripts(tmp_path)
    lines = path.read_text().splitlines()
    bad = json.loads(lines[1])
    del bad["choices"]
    lines[1] = json.dumps(bad)
    path.write_text("\n".join(lines) + "\n")
    ids = {json.loads(line)["item_id"] for line in lines}
    cond = ConditionConfig(name="debate", kind="transcript", path=str(path))
    with pytest.raises(InputFileError, match=r":2.*not a protocol transcript record"):
        load_assistance(cond, ids)


def _speakers(turns: list[dict[str, Any]]) -> list[str]:
    return [t["speaker"] for t in turns]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("turns", [0, 9], r":2.*judgement turns \[0, 9\] outside the record's turns"),
        ("first_speaker", 2, r":2.*judgement first_speaker 2 is not a choice index"),
    ],
)
def test_a_bad_reading_names_file_and_line(
    tmp_path: Path, field: str, value: object, error: str
) -> None:
    path = _debate_transcripts(tmp_path)
    lines = path.read_text().splitlines()
    bad = json.loads(lines[1])
    bad["judgements"][0][field] = value
    lines[1] = json.dumps(bad)
    path.write_text("\n".join(lines) + "\n")
    ids = {json.loads(line)["item_id"] for line in lines}
    cond = ConditionConfig(name="debate", kind="transcript", path=str(path))
    with pytest.raises(InputFileError, match=error):
        load_assistance(cond, ids)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{not json", r"a.jsonl:3: invalid JSON"),
        ("[1, 2]", r"a.jsonl:3: expected a JSON object, got list"),
        ('{"item_id": 7}', r"a.jsonl:3: each line must be an object with a string 'item_id'"),
    ],
)
def test_a_bad_assistance_line_names_file_and_line(tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"item_id": "x", "text": "t"}) + "\n\n" + line + "\n")
    cond = ConditionConfig(name="c", kind="file", path=str(path))
    with pytest.raises(InputFileError, match=error):
        load_assistance(cond, {"x"})


def test_a_debate_keeps_one_reading_per_first_speaker(tmp_path: Path) -> None:
    """Simultaneous debate: both readings hold every turn, each round's pair led by one side."""
    path = _debate_transcripts(tmp_path)
    records = {r.item_id: r for r in read_transcripts(path)}
    cond = ConditionConfig(name="debate", kind="transcript", path=str(path))
    for key, a in load_assistance(cond, set(records)).items():
        rec = records[key]
        assert [r["first_speaker"] for r in a["readings"]] == [0, 1]
        for f in (0, 1):
            shown = shown_assistance(
                a, 0, key, slot=(f - reading_index(0, key, 2, 0, 1)) % 2, rater_id=1
            )
            assert shown is not None and "readings" not in shown and "verdict" not in shown
            assert shown["first_speaker"] == f and shown["first_choice"] == rec.choices[f]
            assert sorted(_speakers(shown["turns"])) == sorted(_speakers(a["turns"]))  # all 4
            leads = [shown["turns"][i]["speaker"] for i in (0, 2)]  # each round's first turn
            assert all(s.startswith(f'Debater for "{rec.choices[f]}"') for s in leads)


def test_a_sequential_debate_shows_one_reading_only(tmp_path: Path) -> None:
    path = _debate_transcripts(tmp_path, mode="sequential")
    records = {r.item_id: r for r in read_transcripts(path)}
    cond = ConditionConfig(name="debate", kind="transcript", path=str(path))
    for key, a in load_assistance(cond, set(records)).items():
        rec = records[key]
        assert len(a["turns"]) == 8  # two debates of two rounds, stored
        seen = []
        for slot in (0, 1):
            shown = shown_assistance(a, 0, key, slot, rater_id=1)
            assert shown is not None
            f = shown["first_speaker"]
            mine = [i for i, t in enumerate(rec.turns) if t.first_speaker == f]
            assert len(shown["turns"]) == 4 == len(mine)  # that debate's turns only
            assert [t["text"] for t in shown["turns"]] == [a["turns"][i]["text"] for i in mine]
            sides = [f, 1 - f, f, 1 - f]
            for t, side in zip(shown["turns"], sides, strict=True):
                assert t["speaker"].startswith(f'Debater for "{rec.choices[side]}"')
            seen.append(f)
        assert sorted(seen) == [0, 1]  # the item's two slots see the two debates


def test_reading_index_balances_slots_and_raters() -> None:
    keys = [f"item-{i}" for i in range(400)]
    for k in keys:  # an item's slots take the readings in turn
        assert {reading_index(7, k, 2, slot, 99) for slot in (0, 1)} == {0, 1}
    first = Counter(reading_index(7, k, 2, 0, 99) for k in keys)
    assert 160 <= first[0] <= 240  # the per-item offset is a fair coin (400 items)
    per_rater = Counter(reading_index(7, "gold-1", 2, None, r) for r in range(400))
    assert 160 <= per_rater[0] <= 240
    assert reading_index(7, "gold-1", 2, None, 5) == reading_index(7, "gold-1", 2, None, 5)
    with pytest.raises(ValueError, match="n_readings"):
        reading_index(7, "x", 0, 0, 1)


def test_schema_1_transcripts_load_and_show_as_stored(tmp_path: Path) -> None:
    """Old files (one debate, "Debater A" for choices[0] first, no readings
    recorded) still load: every turn, in stored order, for every rater."""
    path = _debate_transcripts(tmp_path)
    old = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        rec["schema_version"] = 1
        for t in rec["turns"]:
            del t["first_speaker"]
            t["speaker"] = "Debater A" if t["argues_for"] == 0 else "Debater B"
        for j in rec["judgements"]:
            del j["first_speaker"], j["turns"]
        old.append(json.dumps(rec))
    path.write_text("\n".join(old) + "\n")
    stored = {r["item_id"]: r for r in map(json.loads, old)}
    cond = ConditionConfig(name="debate", kind="transcript", path=str(path))
    for key, a in load_assistance(cond, set(stored)).items():
        assert "readings" not in a
        assert [t["text"] for t in a["turns"]] == [t["text"] for t in stored[key]["turns"]]
        for slot, rater in ((0, 1), (1, 2), (None, 3)):
            assert shown_assistance(a, 0, key, slot, rater) == a
            assert shown_reading(a, 0, key, slot, rater) is None


def _study_on_debates(lab: Any, transcripts: Path) -> str:
    """A study of write_study's 40 statements, each given one debate record as assistance."""
    root = lab.root / "debate-study"
    root.mkdir(parents=True)
    records = [json.loads(line) for line in transcripts.read_text().splitlines()]
    lines = []
    for i in range(40):
        text = f"Statement number {i} is true."
        rec = dict(records[i % len(records)], item_id=item_id(text, i % 2 == 0))
        for t in rec["turns"]:  # the fake assistant quotes nothing: give each turn a quote
            t["quotes"] = [{"text": "the atlas", "verified": t["argues_for"] == 0}]
        lines.append(json.dumps(rec))
    (root / "debate.jsonl").write_text("\n".join(lines) + "\n")
    return lab.study(
        name="debate-study",
        conditions=[{"name": "debate", "kind": "transcript", "path": "debate.jsonl"}],
        seed=5,
        n_items=4,  # with overlap 2 and items_per_rater 4: both raters answer every main item
    )


def test_two_raters_on_one_debate_item_see_different_first_speakers(lab, tmp_path: Path) -> None:
    """Through the app: the two raters of each main item (overlap 2) see the two
    debates of a sequential transcript, one each, and the reading a label's rater
    saw is re-derived from the database by shown_reading."""
    study = _study_on_debates(lab, _debate_transcripts(tmp_path / "runs", mode="sequential"))
    tokens = lab.invite(study, 2)
    seen: dict[str, dict[str, list[str]]] = {}  # statement -> rater token -> speakers shown
    for token in tokens:
        csrf = lab.start(token)
        while (cur := lab.current(token)) is not None:
            aid, text, page = cur
            speakers = [
                html.unescape(s) for s in re.findall(r'class="speaker">(.*?):</span>', page)
            ]
            assert len(speakers) == 4  # one debate of two rounds, not both
            assert "Verdict" not in page  # the rater is the judge
            assert "[quote verified: the atlas]" in page
            assert "[quote NOT verified: the atlas]" in page
            seen.setdefault(text, {})[token] = speakers
            assert lab.answer(token, csrf, aid, truth_of(text)).status_code == 303
    with lab.Sessions() as s:
        main = set(s.scalars(select(Item.text).where(Item.role == "main")))
    assert len(main) == 4
    for text in main:
        a, b = seen[text].values()  # both raters answered it
        assert a[0] != b[0] and a[0] == b[1]  # the other side speaks first
    with lab.Sessions() as s:
        seed = study_config(s.scalar(select(Study))).seed
        rows = s.execute(
            select(Label, Assignment, Item)
            .join(Assignment, Assignment.id == Label.assignment_id)
            .join(Item, Item.id == Label.item_id)
        ).all()
        for label, asg, item in rows:
            a = item.assistance[label.condition]
            f = shown_reading(a, seed, item.key, asg.slot, label.rater_id)
            first = next(r["first_choice"] for r in a["readings"] if r["first_speaker"] == f)
            token = next(
                t for t in tokens if token_hash(t) == s.get(Rater, label.rater_id).token_hash
            )
            shown = seen[item.text][token]
            assert shown[0].startswith(f'Debater for "{first}"')
        # the export carries the same reading in its first_speaker column
        frame = labels_frame(s, s.scalar(select(Study)))
        exported = {(r.item_id, r.rater_id): r.first_speaker for r in frame.itertuples(index=False)}
        for label, asg, item in rows:
            rater = s.get(Rater, label.rater_id)
            f = shown_reading(item.assistance[label.condition], seed, item.key, asg.slot, rater.id)
            assert f is not None
            assert exported[(item.key, rater_label(rater.id, rater.external_id))] == f
