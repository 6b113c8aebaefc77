"""Transcripts: one JSONL record per (protocol, item), schema ``TRANSCRIPT_SCHEMA``.

Each record holds everything needed to say what produced a verdict: the
protocol and its parameters, the item (question, choices, right answer,
passage), the seed, both models' ``describe()``, the generation settings,
every assistant turn with its verified/unverified quotes and response-cache
key, and the judge's verdict in each answer order. Files are written
atomically (temp file + rename) and read back with validation.
Version history: 1 = first version; 2 = debaters named by their answer, each
side speaking first in one reading (``TurnRecord.first_speaker``,
``JudgementRecord.first_speaker`` and ``turns``). Version-1 files are not
reused by a resumed run (their debates tie speaking first to ``choices[0]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from sandwich.errors import InputFileError
from sandwich.store import atomic_write_text

TRANSCRIPT_SCHEMA = 2
Status = Literal["ok", "unparsed", "failed"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuoteRecord(_Record):
    text: str
    verified: bool


class TurnRecord(_Record):
    speaker: str
    argues_for: int | None  # index into choices
    text: str
    quotes: list[QuoteRecord]
    error: str | None = None
    cache_key: str | None = None
    first_speaker: int | None = None  # sequential debate: the debate it is in; None: shared


class JudgementRecord(_Record):
    order: int  # 0: choices shown as (A, B) = (choices[0], choices[1]); 1: swapped
    shown: list[int]  # choice index shown as A, then as B
    first_speaker: int | None = None  # choice whose advocate spoke first (None: no sides)
    turns: list[int] | None = None  # indices into the record's turns, as read (None: all)
    p_a: float | None  # judge's P(A) as shown; None if unparsed or failed
    p_choice0: float | None  # the same mapped back to P(choices[0])
    method: str  # logprobs | text | text-fallback-logprobs | unparsed | failed
    text: str | None = None  # the judge's raw reply (text methods)
    error: str | None = None
    cache_key: str | None = None


class TranscriptRecord(_Record):
    """One item under one protocol (see the module docstring)."""

    schema_version: int = TRANSCRIPT_SCHEMA
    protocol: str
    protocol_params: dict[str, Any]
    seed: int
    item_id: str
    question: str
    choices: list[str]
    correct: int
    passage: str | None
    models: dict[str, Any]  # judge / assistant -> Generator.describe()
    generation: dict[str, Any]  # assistant GenParams, judge method and max_new_tokens
    turns: list[TurnRecord]
    judgements: list[JudgementRecord]
    p_choice0: float | None  # mean over the orders with a probability
    p_correct: float | None
    status: Status
    reason: str | None = None
    extra: dict[str, Any] = {}


def write_transcripts(path: Path, records: list[TranscriptRecord]) -> None:
    """Write ``records`` as JSONL, atomically."""
    atomic_write_text(path, "".join(r.model_dump_json() + "\n" for r in records))


def read_transcripts(path: Path) -> list[TranscriptRecord]:
    """Read and validate a transcripts file; a bad line raises naming file and line."""
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = TranscriptRecord.model_validate_json(line)
            except ValidationError as exc:
                raise InputFileError(path, n, f"not a transcript record: {exc}") from None
            if rec.schema_version != TRANSCRIPT_SCHEMA:
                raise InputFileError(
                    path, n, f"transcript schema {rec.schema_version}, expected {TRANSCRIPT_SCHEMA}"
                )
            out.append(rec)
    return out
