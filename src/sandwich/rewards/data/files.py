"""Preferences from a user file: JSON lines of a prompt, a chosen and a rejected completion.

Schema (one comparison per line; blank lines are skipped):

- ``prompt`` (str, required, not blank).
- ``chosen``, ``rejected`` (str, required, not blank, not equal to each other
  after stripping whitespace): the completions only, without the prompt.
- ``chosen_score``, ``rejected_score`` (numbers, optional): gold rewards. Give
  both on a row or neither, and on every row or on none.
- ``group`` (str or int, optional): rows of one group never span two splits;
  default: rows with the same prompt text form a group.
- ``difficulty`` (number in [0, 1], optional, default 0.5): read by the simulated
  non-expert.
- any other field goes into the prompt's ``metadata``.

Gold: with scores, the gold reward of each completion is its score, so the gold
preference follows the scores (equal scores are a gold tie, and a row may even
score its "rejected" completion higher: the scores win); without scores the
chosen completion is gold-preferred (gold 1.0, rejected 0.0).

Each row becomes one :class:`RewardPrompt` with two completions, chosen first
(comparisons show them in a random order); its id hashes the prompt with both
completions, so one prompt may appear on several rows but the same row twice is
an error. Every problem raises :class:`~sandwich.errors.InputFileError` naming
the file and 1-based line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sandwich.errors import InputFileError
from sandwich.rewards.data.records import Completion, PreferenceSet, RewardPrompt, prompt_id
from sandwich.store.hashing import file_digest
from sandwich.tasks.files import jsonl_rows

TEXT_FIELDS = ("prompt", "chosen", "rejected")
SCORE_FIELDS = ("chosen_score", "rejected_score")
_KNOWN = {*TEXT_FIELDS, *SCORE_FIELDS, "group", "difficulty"}


def _text(path: Path, line: int, row: dict[str, Any], name: str) -> str:
    if name not in row or row[name] is None:
        raise InputFileError(path, line, f"missing field {name!r}")
    value = row[name]
    if not isinstance(value, str) or not value.strip():
        raise InputFileError(path, line, f"{name} must be a non-empty string, got {value!r}")
    return value


def _score(path: Path, line: int, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputFileError(path, line, f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputFileError(path, line, f"{name} must be finite, got {value!r}")
    return float(value)


def _scores(path: Path, line: int, row: dict[str, Any]) -> tuple[float, float] | None:
    given = [row.get(n) is not None for n in SCORE_FIELDS]
    if not any(given):
        return None
    if not all(given):
        have, lack = (SCORE_FIELDS[0], SCORE_FIELDS[1]) if given[0] else SCORE_FIELDS[::-1]
        raise InputFileError(path, line, f"{have} is given but {lack} is not; give both or neither")
    return _score(path, line, SCORE_FIELDS[0], row[SCORE_FIELDS[0]]), _score(
        path, line, SCORE_FIELDS[1], row[SCORE_FIELDS[1]]
    )


def _group(path: Path, line: int, value: Any, prompt: str) -> str:
    if value is None or value == "":
        return f"prompt {prompt_id(prompt)}"
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise InputFileError(
            path, line, f"group must be a non-blank string or an integer, got {value!r}"
        )
    return str(value).strip()


def _difficulty(path: Path, line: int, value: Any) -> float:
    if value is None:
        return 0.5
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InputFileError(path, line, f"difficulty must be a number in [0, 1], got {value!r}")
    return float(value)


def parse_preference_row(path: Path, line: int, row: dict[str, Any]) -> tuple[RewardPrompt, bool]:
    """One row as a RewardPrompt (chosen, rejected) and whether it had scores."""
    prompt, chosen, rejected = (_text(path, line, row, n) for n in TEXT_FIELDS)
    if chosen.strip() == rejected.strip():
        raise InputFileError(path, line, f"chosen and rejected are the same text: {chosen!r}")
    scores = _scores(path, line, row)
    gold = scores if scores is not None else (1.0, 0.0)
    meta = {k: v for k, v in row.items() if k not in _KNOWN}
    record = RewardPrompt(
        prompt_id(prompt, chosen, rejected),
        prompt,
        (Completion(chosen, gold[0]), Completion(rejected, gold[1])),
        group=_group(path, line, row.get("group"), prompt),
        difficulty=_difficulty(path, line, row.get("difficulty")),
        metadata=meta,
    )
    return record, scores is not None


def load_preference_file(path: str | Path, name: str | None = None) -> PreferenceSet:
    """A PreferenceSet from a ``.jsonl`` preference file (module docstring for the schema).

    ``name`` defaults to the file's stem; ``source`` records the absolute path, the
    file's sha256 and whether gold came from scores; ``locations`` each prompt's
    ``file:line``.
    """
    p = Path(path)
    if p.suffix.lower() != ".jsonl":
        raise InputFileError(p, None, f"unsupported file type {p.suffix!r}; use .jsonl")
    if not p.is_file():
        raise InputFileError(p, None, "no such file")
    prompts: list[RewardPrompt] = []
    first_line: dict[str, int] = {}
    scored_line: dict[bool, int] = {}
    for line, row in jsonl_rows(p):
        record, scored = parse_preference_row(p, line, row)
        scored_line.setdefault(scored, line)
        if len(scored_line) > 1:
            other = scored_line[not scored]
            raise InputFileError(
                p,
                line,
                f"{'has' if scored else 'has no'} chosen_score/rejected_score but line {other} "
                f"{'has none' if scored else 'has them'}; give scores on every row or on none",
            )
        if record.id in first_line:
            raise InputFileError(
                p, line, f"duplicate row (same prompt, chosen and rejected as line "
                f"{first_line[record.id]})"
            )  # fmt: skip
        first_line[record.id] = line
        prompts.append(record)
    if not prompts:
        raise InputFileError(p, None, "the file is empty (no rows)")
    source = {
        "kind": "file",
        "path": str(p.resolve()),
        "sha256": file_digest(p),
        "gold": "scores" if True in scored_line else "chosen",
    }
    locations = {pid: f"{p}:{line}" for pid, line in first_line.items()}
    return PreferenceSet(prompts, name or p.stem, source, locations)
