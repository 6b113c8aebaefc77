"""A study condition can show the protocols layer's transcripts file as it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandwich.errors import InputFileError
from sandwich.feedback.assistance import load_assistance
from sandwich.feedback.study import ConditionConfig
from sandwich.protocols import read_transcripts
from sandwich.protocols.config import parse_protocol_config
from sandwich.protocols.run import load_protocol_results, run_protocols


def _debate_transcripts(tmp_path: Path) -> Path:
    cfg = parse_protocol_config(
        {
            "name": "t",
            "task": {"name": "cities", "n_items": 20, "seed": 3},
            "judge": {"backend": "fake", "model": "judge"},
            "assistant": {"backend": "fake", "model": "helper"},
            "protocols": [{"name": "debate", "params": {"rounds": 2}}],
            "bootstrap": {"n_boot": 100},
        }
    )
    out = run_protocols(cfg, runs_root=tmp_path, progress=False)
    row = load_protocol_results(out.run_dir).rows[0]
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
