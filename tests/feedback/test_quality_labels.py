"""Label records: validation names the row and column; files read back exactly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sandwich.errors import ConfigError
from sandwich.feedback.analysis.label_frame import as_label_frame, read_labels, truth_map


def rec(**kw: object) -> dict[str, object]:
    return {"item_id": "i1", "rater_id": "r1", "answer": True, **kw}


def test_defaults_filled_and_training_dropped() -> None:
    frame = as_label_frame(
        [rec(), rec(rater_id="r2", answer="no", is_training="yes"), rec(item_id="i2", answer=0)]
    )
    assert list(frame["item_id"]) == ["i1", "i2"]
    assert list(frame["answer"]) == [True, False]
    assert list(frame["condition"]) == ["none", "none"]
    assert list(frame["confidence"]) == [1.0, 1.0]
    assert not frame["is_gold"].any()
    kept = as_label_frame([rec(), rec(rater_id="r2", is_training=True)], keep_training=True)
    assert len(kept) == 2


def test_task_is_an_alias_of_item_id_and_ids_become_strings() -> None:
    frame = as_label_frame([{"task": 7, "rater_id": 3, "answer": "TRUE"}])
    assert frame.loc[0, "item_id"] == "7" and frame.loc[0, "rater_id"] == "3"


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([rec(), rec(item_id="i2", answer="maybe")], "row 2: answer must be true/false"),
        ([rec(confidence=0.3)], "row 1: confidence must be in [0.5, 1]"),
        ([rec(confidence="high")], "row 1: confidence must be a number"),
        ([rec(), rec()], "row 2: rater 'r1' labelled item 'i1' twice"),
        ([{"item_id": "i1", "answer": True}], "missing column(s) rater_id"),
        ([rec(), rec(rater_id="")], "row 2: rater_id is empty"),
        ([rec(is_gold="sometimes")], "row 1: is_gold must be true/false"),
    ],
)
def test_bad_records_fail_naming_row_and_column(records: list[dict], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        as_label_frame(records, source="x.csv")


def test_csv_and_jsonl_read_the_same_frame(tmp_path: Path) -> None:
    records = [
        rec(condition="assisted", confidence=0.8, is_gold=False, truth=True, seconds=4.5),
        rec(rater_id="r2", answer=False, condition="none", confidence=0.6, truth=True),
        rec(item_id="g1", is_gold=True, truth=False, seconds=2.0),
    ]
    jl = tmp_path / "labels.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    csv = tmp_path / "labels.csv"
    as_label_frame(records).to_csv(csv, index=False)
    a, b = read_labels(jl), read_labels(csv)
    assert a.equals(b)
    assert truth_map(a) == {"i1": True, "g1": False}
    assert a["seconds"].isna().sum() == 1


def test_bad_files_fail_naming_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "labels.jsonl"
    p.write_text(json.dumps(rec()) + "\n{not json\n")
    with pytest.raises(ConfigError, match=r"labels.jsonl:2: invalid JSON"):
        read_labels(p)
    with pytest.raises(ConfigError, match="does not exist"):
        read_labels(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="unknown format"):
        (tmp_path / "labels.txt").write_text("x")
        read_labels(tmp_path / "labels.txt")
