"""The dossier task, the two-answer view of items and question-format files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandwich.errors import ConfigError, InputFileError
from sandwich.tasks import Item, load_task, load_task_file
from sandwich.tasks.choices import choice_view


def test_deterministic_balanced_and_consistent() -> None:
    a = load_task(name="dossier", n_items=60, seed=3)
    b = load_task(name="dossier", n_items=60, seed=3)
    c = load_task(name="dossier", n_items=60, seed=4)
    assert [it.id for it in a.items] == [it.id for it in b.items]
    assert [it.id for it in a.items] != [it.id for it in c.items]
    assert sum(it.label for it in a.items) == 30
    for it in a.items:
        v = choice_view(it)
        right = v.choices[v.correct]
        assert v.passage is not None and v.question.endswith("?")
        assert v.choices[0] in it.text  # the statement asserts choices[0]
        # the right answer is in the passage: the debaters can find it
        assert right.removeprefix("about ") in v.passage


def test_too_many_items_names_the_maximum() -> None:
    with pytest.raises(ConfigError, match="maximum is"):
        load_task(name="dossier", n_items=100_000)


def test_plain_items_become_true_false_questions() -> None:
    it = Item.make("Paris is in France.", True)
    v = choice_view(it)
    assert v.choices == ("True", "False") and v.correct == 0 and v.passage is None
    assert "Paris is in France." in v.question
    assert choice_view(Item.make("Paris is in Peru.", False)).correct == 1


def test_bad_choices_metadata_is_named() -> None:
    it = Item.make("x", True, choices=["same", "same"], question="q?")
    with pytest.raises(ConfigError, match="two different"):
        choice_view(it)
    with pytest.raises(ConfigError, match="no 'question'"):
        choice_view(Item.make("y", True, choices=["a", "b"]))


def test_question_format_jsonl(tmp_path: Path) -> None:
    rows = [
        {"question": "Who won?", "choices": ["Ann", "Bob"], "answer": 1, "passage": "Bob won."},
        {"question": "Where?", "choices": ["Rome", "Oslo"], "answer": 0, "difficulty": 0.2},
    ]
    p = tmp_path / "q.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = load_task_file(p)
    v0, v1 = (choice_view(it) for it in task.items)
    assert (task.items[0].label, v0.correct, v0.passage) == (False, 1, "Bob won.")
    assert (task.items[1].label, v1.correct, task.items[1].difficulty) == (True, 0, 0.2)
    assert task.items[0].text == "Who won? Answer: Ann"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"question": "q?", "choices": ["a", "b"], "answer": 2}, "answer must be 0 or 1"),
        ({"question": "q?", "choices": ["a"], "answer": 0}, "two different"),
        ({"question": "", "choices": ["a", "b"], "answer": 0}, "question must be"),
        ({"question": "q?", "choices": ["a", "b"]}, "needs 'answer'"),
    ],
)
def test_bad_question_rows_name_the_line(
    tmp_path: Path, row: dict[str, object], message: str
) -> None:
    p = tmp_path / "bad.jsonl"
    good = {"question": "ok?", "choices": ["x", "y"], "answer": 0}
    p.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(InputFileError, match=rf"bad.jsonl:2: .*{message}"):
        load_task_file(p)
