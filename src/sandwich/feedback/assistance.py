"""Assistance files: what a rater in an assisted condition sees next to an item.

Every file is JSONL keyed by ``item_id``; each kind has its own fields (see
:class:`~sandwich.feedback.study.ConditionConfig`). A record is normalised to
a small dict stored with the item; the page renders it (escaped).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandwich.errors import InputFileError
from sandwich.feedback.study import ConditionConfig

Assistance = dict[str, Any]


def _as_bool(v: Any, path: Path, line: int, field: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise InputFileError(path, line, f"{field} must be true or false, got {v!r}")


def _text(rec: dict[str, Any], field: str, path: Path, line: int) -> str:
    v = rec.get(field)
    if not isinstance(v, str) or not v.strip():
        raise InputFileError(path, line, f"missing or empty string field {field!r}")
    return v


def _normalise(kind: str, rec: dict[str, Any], path: Path, line: int) -> Assistance:
    if kind == "model-answer":
        if "answer" not in rec:
            raise InputFileError(path, line, "missing field 'answer' (true/false)")
        return {
            "kind": kind,
            "answer": _as_bool(rec["answer"], path, line, "answer"),
            "explanation": _text(rec, "explanation", path, line),
        }
    if kind == "transcript" and "schema_version" in rec and "turns" in rec:
        return _from_protocol_record(rec, path, line)
    if kind == "transcript":
        turns = rec.get("transcript")
        if not isinstance(turns, list) or not turns:
            raise InputFileError(path, line, "'transcript' must be a non-empty list of turns")
        out = []
        for j, t in enumerate(turns):
            if not isinstance(t, dict) or not isinstance(t.get("text"), str):
                raise InputFileError(path, line, f"transcript turn {j} needs a string 'text'")
            out.append({"speaker": str(t.get("speaker", f"turn {j + 1}")), "text": t["text"]})
        result: Assistance = {"kind": kind, "turns": out}
        if "verdict" in rec:
            result["verdict"] = str(rec["verdict"])
        return result
    return {"kind": kind, "text": _text(rec, "text", path, line)}


def _from_protocol_record(rec: dict[str, Any], path: Path, line: int) -> Assistance:
    """A record of the protocols layer's transcripts file (``sandwich protocols run``).

    The rater sees the assistants' turns, each quote marked verified or not
    against the passage, and never the protocol judge's verdict: the rater is
    the judge.
    """
    from pydantic import ValidationError

    from sandwich.protocols.transcripts import TranscriptRecord

    try:
        tr = TranscriptRecord.model_validate(rec)
    except ValidationError as exc:
        raise InputFileError(path, line, f"not a protocol transcript record: {exc}") from None
    if not tr.turns:
        raise InputFileError(path, line, f"protocol {tr.protocol!r} transcript has no turns")
    turns = []
    for t in tr.turns:
        side = f" (for: {tr.choices[t.argues_for]})" if t.argues_for is not None else ""
        marks = "".join(
            f"\n[quote {'verified' if q.verified else 'NOT verified'}: {q.text}]" for q in t.quotes
        )
        turns.append({"speaker": f"{t.speaker}{side}", "text": t.text + marks})
    return {"kind": "transcript", "turns": turns}


def load_assistance(cond: ConditionConfig, item_ids: set[str]) -> dict[str, Assistance]:
    """Assistance of one condition for ``item_ids``; every id must be covered."""
    if cond.kind == "none" or cond.path is None:
        return {}
    path = Path(cond.path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputFileError(path, None, f"cannot read assistance file: {exc.strerror}") from None
    found: dict[str, Assistance] = {}
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputFileError(path, n, f"not JSON: {exc.msg}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("item_id"), str):
            raise InputFileError(path, n, "each line must be an object with a string 'item_id'")
        if rec["item_id"] in item_ids:
            found[rec["item_id"]] = _normalise(cond.kind, rec, path, n)
    missing = sorted(item_ids - set(found))
    if missing:
        raise InputFileError(
            path,
            None,
            f"condition {cond.name!r}: no assistance for {len(missing)} study item(s), "
            f"e.g. item_id {missing[0]!r}",
        )
    return found
