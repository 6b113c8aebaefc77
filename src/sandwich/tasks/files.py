"""Tasks from user files: ``.jsonl`` and ``.csv``.

Schema (one item per JSONL line / CSV row):

- ``text`` (str, required): the statement.
- ``label`` (required): JSON ``true``/``false`` (or 0/1); in CSV ``true``,
  ``false``, ``1``, ``0``, ``yes``, ``no`` (any case).
- ``id`` (str, optional): default the content hash of text and label.
- ``difficulty`` (float in [0, 1], optional): default 0.5.
- ``group`` (str or int, optional): items of one group are never split across
  A, B and T (put a statement and its negation, or two statements about the
  same entity, in one group); empty or missing = the item is its own group.
- any other field or column goes into the item's ``metadata``.

Every problem raises :class:`~sandwich.errors.InputFileError` with the file and
the 1-based line (in CSV the header is line 1): a missing field, a duplicate
id (both lines named), a label that is not boolean (the value shown), invalid
JSON, an empty file, a difficulty outside [0, 1], a group that is not a
string or integer.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sandwich.errors import InputFileError
from sandwich.store.hashing import file_digest
from sandwich.tasks.choices import choice_row
from sandwich.tasks.item import GROUP_KEY, Item, item_id
from sandwich.tasks.task import Task

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
REQUIRED = ("text", "label")


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of every non-blank line of a JSON-lines file; a line that is
    not a JSON object fails naming the file and line (task, label and assistance files)."""
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputFileError(
                    path, line_no, f"invalid JSON: {e.msg} (column {e.colno})"
                ) from None
            if not isinstance(row, dict):
                raise InputFileError(
                    path, line_no, f"expected a JSON object, got {type(row).__name__}"
                )
            yield line_no, row


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            return
        for name in REQUIRED:
            if name not in reader.fieldnames:
                raise InputFileError(
                    path, 1, f"missing column {name!r} in the header (columns: {reader.fieldnames})"
                )
        start = reader.line_num + 1
        for row in reader:
            if None in row:
                raise InputFileError(path, start, "more values than header columns")
            yield start, dict(row)
            start = reader.line_num + 1


def _label(path: Path, line: int, value: Any, csv_text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if not csv_text and isinstance(value, int) and value in (0, 1):
        return bool(value)
    if csv_text and isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE | _FALSE:
            return v in _TRUE
    allowed = "true/false/1/0/yes/no" if csv_text else "true/false (or 0/1)"
    raise InputFileError(path, line, f"label must be boolean ({allowed}), got {value!r}")


def _difficulty(path: Path, line: int, value: Any) -> float:
    if value is None or value == "":
        return 0.5
    try:
        d = float(value)
    except (TypeError, ValueError):
        raise InputFileError(path, line, f"difficulty must be a number, got {value!r}") from None
    if not 0.0 <= d <= 1.0:
        raise InputFileError(path, line, f"difficulty must be in [0, 1], got {value!r}")
    return d


def _group(path: Path, line: int, value: Any) -> str | None:
    """The row's group as a string (JSON numbers and CSV text compare alike), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputFileError(path, line, f"group must be a string or an integer, got {value!r}")
    text = str(value).strip()
    if not text:
        raise InputFileError(path, line, f"group must not be blank, got {value!r}")
    return text


def parse_row(path: Path, line: int, row: dict[str, Any], csv_text: bool) -> Item:
    """One file row as an Item (raises InputFileError naming ``line``)."""
    if "text" not in row and "choices" in row:  # question format (protocols); see tasks.choices
        try:
            row = choice_row(row)
        except ValueError as exc:
            raise InputFileError(path, line, str(exc)) from None
    for name in REQUIRED:
        if name not in row or row[name] is None:
            raise InputFileError(path, line, f"missing field {name!r}")
    text = row["text"]
    if not isinstance(text, str) or not text.strip():
        raise InputFileError(path, line, f"text must be a non-empty string, got {text!r}")
    label = _label(path, line, row["label"], csv_text)
    raw_id = row.get("id")
    if raw_id in (None, ""):
        iid = item_id(text, label)
    elif isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
        iid = str(raw_id)
    else:
        raise InputFileError(path, line, f"id must be a string, got {raw_id!r}")
    meta = {k: v for k, v in row.items() if k not in ("text", "label", "id", "difficulty")}
    group = _group(path, line, meta.pop(GROUP_KEY, None))
    if group is not None:
        meta[GROUP_KEY] = group
    return Item(iid, text, label, _difficulty(path, line, row.get("difficulty")), meta)


def _read(p: Path) -> tuple[list[Item], dict[str, str]]:
    """The file's items, in file order, and each item's ``file:line``."""
    suffix = p.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise InputFileError(p, None, f"unsupported file type {suffix!r}; use .jsonl or .csv")
    if not p.is_file():
        raise InputFileError(p, None, "no such file")
    rows = _csv_rows(p) if suffix == ".csv" else jsonl_rows(p)
    items: list[Item] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        item = parse_row(p, line, row, csv_text=suffix == ".csv")
        if item.id in first_line:
            raise InputFileError(
                p,
                line,
                f"duplicate id {item.id!r} (also on line {first_line[item.id]}); "
                "ids must be unique (without an id column, the same text and label twice)",
            )
        first_line[item.id] = line
        items.append(item)
    if not items:
        raise InputFileError(p, None, "the file is empty (no items)")
    return items, {iid: f"{p}:{line}" for iid, line in first_line.items()}


def load_task_file(path: str | Path, name: str | None = None) -> Task:
    """A Task from a ``.jsonl`` or ``.csv`` file (see the module docstring for the schema).

    ``name`` defaults to the file's stem; ``source`` records the absolute path
    and the file's sha256.
    """
    p = Path(path)
    items, locations = _read(p)
    source = {"kind": "file", "path": str(p.resolve()), "sha256": file_digest(p)}
    return Task(name or p.stem, items, source, locations)
