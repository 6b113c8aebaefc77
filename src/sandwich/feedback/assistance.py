"""Assistance files: what a rater in an assisted condition sees next to an item.

Every file is JSONL keyed by ``item_id``; each kind has its own fields (see
:class:`~sandwich.feedback.study_config.ConditionConfig`). A record is normalised to
a small dict stored with the item; the page renders it (escaped).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandwich.errors import InputFileError
from sandwich.feedback.study_config import ConditionConfig
from sandwich.tasks.files import jsonl_rows

if TYPE_CHECKING:
    from sandwich.protocols.transcripts import TranscriptRecord

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
    the judge. Where the record has several readings (a debate: each side
    speaks first in one), all are kept under ``readings`` and each rater is
    shown one of them (:func:`shown_assistance`), so which side speaks first
    is not tied to ``choices[0]`` for the human judge either.
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
    result: Assistance = {"kind": "transcript", "turns": turns}
    readings = _readings(tr, path, line)
    if readings:
        result["readings"] = readings
    return result


def _readings(tr: TranscriptRecord, path: Path, line: int) -> list[dict[str, Any]]:
    """The distinct readings the protocol judge read (schema 2: ``judgements[].turns``),
    one per first speaker, ordered by first speaker; [] when no side speaks first
    (consultancy, critique), for schema-1 records (which did not record them) and
    for items whose judge never ran (failed turns): those are shown as stored."""
    seen: dict[int, list[int]] = {}
    for j in tr.judgements:
        if j.first_speaker is None or j.turns is None:
            continue
        if not 0 <= j.first_speaker < len(tr.choices):
            raise InputFileError(
                path, line, f"judgement first_speaker {j.first_speaker} is not a choice index"
            )
        if any(not 0 <= i < len(tr.turns) for i in j.turns):
            raise InputFileError(
                path, line, f"judgement turns {j.turns} outside the record's turns"
            )
        if seen.setdefault(j.first_speaker, j.turns) != j.turns:
            raise InputFileError(
                path, line, f"two different readings with first speaker {j.first_speaker}"
            )
    return [
        {"first_speaker": f, "first_choice": tr.choices[f], "turns": seen[f]} for f in sorted(seen)
    ]


def _unit_hash(*parts: object) -> int:
    """A hash of ``parts`` that is the same in every process (unlike ``hash``)."""
    raw = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big")


def reading_index(
    seed: int, item_key: str, n_readings: int, slot: int | None, rater_id: int
) -> int:
    """Which of an item's ``n_readings`` readings one rater is shown.

    A main item's ``overlap`` slots (per condition) take the readings in turn
    from an offset drawn per item, ``(h(seed, item) + slot) % n``: raters of
    the same item see different first speakers, each side speaks first
    equally often per item when ``overlap`` is a multiple of ``n`` (else
    within one rater of it) and equally often over items in expectation.
    Gold and training items (no slot) draw per rater: ``h(seed, item, rater)
    % n``. Deterministic, so analysis can re-derive what a label's rater saw
    from the study seed, the item key and the label's assignment
    (:func:`shown_reading`); nothing extra is stored.
    """
    if n_readings < 1:
        raise ValueError(f"n_readings must be >= 1, got {n_readings}")
    if slot is not None:
        return (_unit_hash(seed, item_key) + slot) % n_readings
    return _unit_hash(seed, item_key, "rater", rater_id) % n_readings


def shown_assistance(
    assistance: Assistance | None, seed: int, item_key: str, slot: int | None, rater_id: int
) -> Assistance | None:
    """What one rater sees of an item's stored assistance: for a transcript
    with readings, only the turns of the reading :func:`reading_index` picks,
    in that reading's order (plus ``first_choice``, the answer whose debater
    speaks first); anything else as stored."""
    if assistance is None or not assistance.get("readings"):
        return assistance
    readings = assistance["readings"]
    r = readings[reading_index(seed, item_key, len(readings), slot, rater_id)]
    shown = {k: v for k, v in assistance.items() if k != "readings"}
    shown["turns"] = [assistance["turns"][i] for i in r["turns"]]
    return shown | {k: r[k] for k in ("first_speaker", "first_choice")}


def shown_reading(
    assistance: Assistance | None, seed: int, item_key: str, slot: int | None, rater_id: int
) -> int | None:
    """The choice index whose debater spoke first in what this rater saw
    (None: the assistance has no readings, so it was shown as stored)."""
    shown = shown_assistance(assistance, seed, item_key, slot, rater_id)
    return None if shown is None else shown.get("first_speaker")


def load_assistance(cond: ConditionConfig, item_ids: set[str]) -> dict[str, Assistance]:
    """Assistance of one condition for ``item_ids``; every id must be covered."""
    if cond.kind == "none" or cond.path is None:
        return {}
    path = Path(cond.path)
    try:
        rows = list(jsonl_rows(path))
    except OSError as exc:
        raise InputFileError(path, None, f"cannot read assistance file: {exc.strerror}") from None
    found: dict[str, Assistance] = {}
    for n, rec in rows:
        if not isinstance(rec.get("item_id"), str):
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
