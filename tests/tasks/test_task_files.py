"""load_task_file: JSONL and CSV happy paths and every bad input with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandwich.errors import InputFileError
from sandwich.store.hashing import file_digest
from sandwich.tasks import load_task, load_task_file


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


ROWS = [
    {"text": "Paris is in France.", "label": True, "difficulty": 0.1, "topic": "geo"},
    {"text": "Paris is in Spain.", "label": False, "id": "p2"},
    {"text": "2 + 2 = 4.", "label": 1},
    {"text": "2 + 2 = 5.", "label": 0},
]


def test_jsonl_happy_path(tmp_path: Path) -> None:
    p = _jsonl(tmp_path / "mine.jsonl", [*ROWS[:2], "", *ROWS[2:]])
    task = load_task_file(p)
    assert task.name == "mine"
    assert [it.label for it in task.items] == [True, False, True, False]
    assert task.items[0].difficulty == 0.1 and task.items[1].difficulty == 0.5
    assert task.items[0].metadata == {"topic": "geo"}
    assert task.items[1].id == "p2"
    assert task.source == {"kind": "file", "path": str(p.resolve()), "sha256": file_digest(p)}


def test_csv_happy_path(tmp_path: Path) -> None:
    p = tmp_path / "mine.csv"
    p.write_text(
        'text,label,difficulty,group\n"Rome, the city, is in Italy.",TRUE,0.2,a\n'
        "Rome is in Peru.,no,,b\nOslo is in Norway.,Yes,1,c\nOslo is in Chile.,0,0,c\n"
    )
    task = load_task_file(p, name="custom")
    assert task.name == "custom"
    assert [it.label for it in task.items] == [True, False, True, False]
    assert [it.difficulty for it in task.items] == [0.2, 0.5, 1.0, 0.0]
    assert task.items[0].text == "Rome, the city, is in Italy."
    assert task.items[1].metadata == {"group": "b"}


def test_load_task_subsamples_deterministically(tmp_path: Path) -> None:
    rows = [{"text": f"{i} is even.", "label": i % 2 == 0} for i in range(50)]
    p = _jsonl(tmp_path / "even.jsonl", rows)
    a = load_task(path=str(p), n_items=20, seed=1)
    b = load_task(path=str(p), n_items=20, seed=1)
    c = load_task(path=str(p), n_items=20, seed=2)
    assert len(a.items) == 20
    assert [i.id for i in a.items] == [i.id for i in b.items] != [i.id for i in c.items]
    assert len(load_task(path=str(p)).items) == 50


@pytest.mark.parametrize(
    ("rows", "line", "fragment"),
    [
        ([ROWS[0], {"label": True}], 2, "missing field 'text'"),
        ([ROWS[0], ROWS[1], {"text": "x"}], 3, "missing field 'label'"),
        ([ROWS[0], {"text": "x", "label": "maybe"}], 2, "'maybe'"),
        ([ROWS[0], '{"text": "x", "label": tru}'], 2, "invalid JSON"),
        ([ROWS[0], {"text": "x", "label": True, "difficulty": 1.5}], 2, "[0, 1]"),
        ([ROWS[0], ROWS[1], {"text": "y", "label": True, "id": "p2"}], 3, "also on line 2"),
        ([ROWS[0], ROWS[1], ROWS[0]], 3, "also on line 1"),
        (["[1, 2]"], 1, "JSON object"),
    ],
)
def test_jsonl_errors(tmp_path: Path, rows: list[object], line: int, fragment: str) -> None:
    p = _jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputFileError) as info:
        load_task_file(p)
    assert info.value.line == line
    assert fragment in str(info.value)
    assert f"bad.jsonl:{line}:" in str(info.value)


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        ("text,difficulty\nx,0.1\n", 1, "missing column 'label'"),
        ("label\ntrue\n", 1, "missing column 'text'"),
        ("text,label\na,true\nb,perhaps\n", 3, "'perhaps'"),
        ("text,label,id\na,true,k\nb,false,k\n", 3, "also on line 2"),
        ('text,label\n"multi\nline",true\nb,false\nc,2\n', 5, "'2'"),
        ("text,label,difficulty\na,true,-0.1\n", 2, "[0, 1]"),
    ],
)
def test_csv_errors(tmp_path: Path, content: str, line: int, fragment: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(InputFileError) as info:
        load_task_file(p)
    assert info.value.line == line
    assert fragment in str(info.value)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"empty{suffix}"
    p.write_text("text,label\n" if suffix == ".csv" else "\n")
    with pytest.raises(InputFileError, match="empty"):
        load_task_file(p)


def test_unsupported_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="unsupported"):
        load_task_file(tmp_path / "x.txt")
    with pytest.raises(InputFileError, match="no such file"):
        load_task_file(tmp_path / "x.jsonl")
