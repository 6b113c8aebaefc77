"""Two-answer questions over Items: the view protocols (debate, consultancy, ...) need.

An Item is a statement with a gold label. A protocol asks a judge a question
with two candidate answers, and optionally shows a passage to the assistant
only. Items carry these in ``metadata`` (the convention of every task, built in
or from a file):

- ``question`` (str): the question the judge answers.
- ``choices`` (two str): ``choices[0]`` is the answer the statement asserts,
  ``choices[1]`` the alternative; so the statement is true exactly when
  ``choices[0]`` is the right answer, and P(statement true) = P(choices[0]).
- ``passage`` (str, optional): text the assistant (debaters, consultant, critic)
  sees and the judge does not (information asymmetry).

An Item without ``choices`` (any plain true/false task) is asked as
"Is the following statement true or false?" with choices ("True", "False").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

from sandwich.errors import ConfigError
from sandwich.tasks.item import Item


@dataclass(frozen=True)
class ChoiceView:
    """A question with two answers; ``correct`` is the index of the right one."""

    question: str
    choices: tuple[str, str]
    correct: int
    passage: str | None = None


def choice_view(item: Item) -> ChoiceView:
    """The two-answer view of ``item`` (see the module docstring for the metadata keys)."""
    meta = item.metadata
    raw = meta.get("choices")
    if raw is None:
        question = f"Is the following statement true or false? {item.text}"
        return ChoiceView(question, ("True", "False"), 0 if item.label else 1, _passage(item))
    if not _two_choices(raw):
        raise ConfigError(
            f"item {item.id}: metadata 'choices' must be two different non-empty strings, "
            f"got {raw!r}"
        )
    asked = meta.get("question")
    if not isinstance(asked, str) or not asked.strip():
        raise ConfigError(f"item {item.id}: has 'choices' but no 'question' string")
    return ChoiceView(asked, (raw[0], raw[1]), 0 if item.label else 1, _passage(item))


def _two_choices(raw: object) -> TypeGuard[list[str] | tuple[str, ...]]:
    """Two different non-empty strings (the only valid ``choices``)."""
    return (
        isinstance(raw, list | tuple)
        and len(raw) == 2
        and all(isinstance(c, str) and c.strip() for c in raw)
        and raw[0] != raw[1]
    )


def _passage(item: Item) -> str | None:
    p = item.metadata.get("passage")
    if p is None:
        return None
    if not isinstance(p, str):
        raise ConfigError(f"item {item.id}: metadata 'passage' must be a string, got {p!r}")
    return p


def choice_row(row: dict[str, object]) -> dict[str, object]:
    """A question-format file row (``question``, ``choices``, ``answer``) as a statement row.

    ``answer`` is the index (0 or 1) of the right choice. The statement asserts
    ``choices[0]``: text ``"<question> Answer: <choices[0]>"``, label
    ``answer == 0``. Other fields (``passage``, ``id``, ``difficulty``, ...) are
    kept. Raises ValueError naming the bad field.
    """
    out = dict(row)
    for name in ("question", "choices", "answer"):
        if name not in row:
            raise ValueError(f"a question-format row needs {name!r} (has {sorted(row)})")
    question, choices, answer = row["question"], row["choices"], out.pop("answer")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty string, got {question!r}")
    if not _two_choices(choices):
        raise ValueError(f"choices must be two different non-empty strings, got {choices!r}")
    if answer not in (0, 1) or isinstance(answer, bool):
        raise ValueError(f"answer must be 0 or 1 (the index of the right choice), got {answer!r}")
    out["text"] = f"{question.strip()} Answer: {choices[0]}"
    out["label"] = answer == 0
    return out
