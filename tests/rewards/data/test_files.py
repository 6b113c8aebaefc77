"""User preference files: the schema, gold from scores or from "chosen", path:line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandwich.errors import InputFileError
from sandwich.rewards.data import load_preference_file, load_reward_task


def _write(tmp_path: Path, rows: list[object], name: str = "prefs.jsonl") -> Path:
    p = tmp_path / name
    p.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n",
        encoding="utf-8",
    )
    return p


ROW = {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"}


def test_rows_without_scores_prefer_chosen(tmp_path: Path) -> None:
    rows = [ROW, {**ROW, "rejected": "Nice", "group": 3, "source": "x"}, "", {**ROW, "chosen": "P"}]
    ps = load_preference_file(_write(tmp_path, rows))
    assert len(ps) == 3 and ps.name == "prefs" and ps.source["gold"] == "chosen"
    for p in ps.prompts:
        assert [c.gold for c in p.completions] == [1.0, 0.0]
    assert ps.prompts[1].group == "3" and ps.prompts[1].metadata == {"source": "x"}
    assert ps.prompts[0].group == ps.prompts[2].group  # same prompt text: one group
    assert ps.locations[ps.prompts[2].id].endswith("prefs.jsonl:4")
    comps = ps.comparisons(1, seed=0)
    assert all(c.gold == (1.0 if c.a == 0 else 0.0) for c in comps)
    assert ps.completion_task().items[0].text == "Capital of France? Paris"


def test_scores_set_gold_including_ties_and_reversals(tmp_path: Path) -> None:
    rows = [
        {**ROW, "chosen_score": 2, "rejected_score": 0.5},
        {**ROW, "rejected": "Nice", "chosen_score": 1, "rejected_score": 1},
        {**ROW, "rejected": "Lille", "chosen_score": 0, "rejected_score": 1},
    ]
    ps = load_preference_file(_write(tmp_path, rows))
    assert ps.source["gold"] == "scores"
    assert [[c.gold for c in p.completions] for p in ps.prompts] == [[2, 0.5], [1, 1], [0, 1]]
    gold_a0 = [c.gold if c.a == 0 else 1 - c.gold for c in ps.comparisons(1, seed=0)]
    assert gold_a0 == [1.0, 0.5, 0.0]


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        ([ROW, "{not json"], 2, "invalid JSON"),
        ([ROW, [1, 2]], 2, "expected a JSON object"),
        ([{"chosen": "a", "rejected": "b"}], 1, "missing field 'prompt'"),
        ([ROW, {**ROW, "rejected": None}], 2, "missing field 'rejected'"),
        ([{**ROW, "chosen": "  "}], 1, "chosen must be a non-empty string"),
        ([{**ROW, "prompt": 3}], 1, "prompt must be a non-empty string"),
        ([{**ROW, "rejected": " Paris "}], 1, "chosen and rejected are the same text"),
        ([{**ROW, "chosen_score": "high", "rejected_score": 0}], 1, "chosen_score must be a num"),
        ([{**ROW, "chosen_score": True, "rejected_score": 0}], 1, "chosen_score must be a num"),
        ([{**ROW, "chosen_score": 1}], 1, "chosen_score is given but rejected_score is not"),
        (
            [{**ROW, "chosen_score": 1, "rejected_score": 0}, {**ROW, "rejected": "Nice"}],
            2,
            "has no chosen_score/rejected_score but line 1 has them",
        ),
        (
            [{**ROW, "rejected": "Nice"}, {**ROW, "chosen_score": 1, "rejected_score": 0}],
            2,
            "has chosen_score/rejected_score but line 1 has none",
        ),
        ([ROW, ROW], 2, r"duplicate row \(same prompt, chosen and rejected as line 1\)"),
        ([{**ROW, "group": [1]}], 1, "group must be"),
        ([{**ROW, "difficulty": 2}], 1, "difficulty must be a number in"),
    ],
)
def test_bad_rows_fail_with_path_and_line(
    tmp_path: Path, rows: list[object], line: int, message: str
) -> None:
    path = _write(tmp_path, rows)
    with pytest.raises(InputFileError, match=message) as err:
        load_preference_file(path)
    assert err.value.line == line and str(err.value).startswith(f"{path}:{line}: ")


def test_non_finite_score(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"prompt": "q", "chosen": "a", "rejected": "b", "chosen_score": NaN, '
        '"rejected_score": 0}\n'
    )
    with pytest.raises(InputFileError, match="chosen_score must be finite"):
        load_preference_file(path)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="empty"):
        load_preference_file(_write(tmp_path, [""]))
    with pytest.raises(InputFileError, match="no such file"):
        load_preference_file(tmp_path / "missing.jsonl")
    with pytest.raises(InputFileError, match=r"use \.jsonl"):
        load_preference_file(_write(tmp_path, [ROW], name="p.csv"))


def test_load_reward_task_reads_a_file_with_no_gold_program(tmp_path: Path) -> None:
    rows = [{**ROW, "rejected": f"city {i}"} for i in range(10)]
    path = _write(tmp_path, rows)
    prompts, gold = load_reward_task(str(path))
    assert gold is None and len(prompts) == 10 and all(len(p.completions) == 2 for p in prompts)
    some, _ = load_reward_task(str(path), n_prompts=4, seed=1)
    order = [p.id for p in prompts]
    assert len(some) == 4 and [order.index(p.id) for p in some] == sorted(
        order.index(p.id) for p in some
    )
    assert [p.id for p in some] == [p.id for p in load_reward_task(str(path), 4, seed=1)[0]]
