"""``results.json`` of a protocol run (pydantic; the schema of the file)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

PROTOCOL_RESULTS_SCHEMA = 1

FLAG_SMALL_GAP = "small-gap"  # expert - naive judge below min_gap: gap closed is noise
FLAG_UNPARSED = "unparsed"  # some verdicts unreadable in both orders: counted as P = 0.5
FLAG_FAILED = "failed"  # some items failed after retries: left out, listed in failures


class ProtocolRow(BaseModel):
    """One protocol on one seed."""

    model_config = ConfigDict(extra="forbid")

    protocol: str
    name: str
    params: dict[str, Any]
    seed: int
    n_items: int
    n_scored: int  # ok + unparsed
    n_unparsed: int
    n_failed: int
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None
    ece: float | None
    brier: float | None
    gap_closed: float | None = None  # vs naive on the same items; None without naive
    gap_closed_ci: tuple[float, float] | None = None
    naive_accuracy_paired: float | None = None
    n_paired: int | None = None
    consultant_right_accuracy: float | None = None
    consultant_right_ci: tuple[float, float] | None = None
    consultant_wrong_accuracy: float | None = None
    consultant_wrong_ci: tuple[float, float] | None = None
    quotes: int = 0
    quotes_verified: int = 0
    methods: dict[str, int] = {}  # judge verdict method -> count (over both orders)
    transcripts: str  # path relative to the run directory
    flags: list[str] = []


class Failure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocol: str
    seed: int
    item_id: str
    reason: str


class ProtocolResults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = PROTOCOL_RESULTS_SCHEMA
    sandwich_version: str
    run_id: str
    created: str
    config: dict[str, Any]
    models: dict[str, Any]
    rows: list[ProtocolRow]
    failures: list[Failure]
    warnings: list[str]
