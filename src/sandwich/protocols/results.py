"""A protocol's measurements (pydantic): one row per protocol and seed, one aggregate
per protocol over seeds; the protocol cells and groups of a run's results.json
(:class:`sandwich.results.RunResults`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from sandwich.metrics.calibration import ReliabilityBin

# flags of every kind (sandwich.results re-exports them with the w2s flags)
FLAG_SMALL_GAP = "small_gap"  # the gap is within noise (w2s: ceiling - weak; protocol: expert
# - naive judge): the share of it closed (PGR) is not meaningful
FLAG_FEW_SEEDS = "few_seeds"  # group of 2 to FEW_SEEDS - 1 seeds: interval over seeds, wide
FEW_SEEDS = 5
# protocol flags
FLAG_UNPARSED = "unparsed"  # some verdicts unreadable in both orders: counted as P = 0.5
FLAG_FAILED = "failed"  # some items failed after retries: left out, listed in failures
FLAG_ONE_ORDER = "one_order"  # > ONE_ORDER_MAX of items judged in one answer order only
ONE_ORDER_MAX = 0.05


class BinRecord(BaseModel):
    """One reliability-diagram bin in results.json (a
    :class:`~sandwich.metrics.calibration.ReliabilityBin`: equal-width confidence range,
    mean top-label confidence and accuracy of its items, and their count)."""

    model_config = ConfigDict(extra="forbid")

    low: float
    high: float
    confidence: float
    accuracy: float
    n: int

    @classmethod
    def of(cls, bins: Sequence[ReliabilityBin]) -> list[BinRecord]:
        return [cls(**b._asdict()) for b in bins]

    def bin(self) -> ReliabilityBin:
        return ReliabilityBin(self.low, self.high, self.confidence, self.accuracy, self.n)


class ProtocolRow(BaseModel):
    """One protocol on one seed."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["protocol"] = "protocol"
    task: str = ""  # the task's label
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
    # the judge's P(right answer) binned (10 equal-width bins; None in older results)
    reliability: list[BinRecord] | None = None
    gap_closed: float | None = None  # vs naive on the same items; None without naive
    gap_closed_ci: tuple[float, float] | None = None
    naive_accuracy_paired: float | None = None
    protocol_accuracy_paired: float | None = None  # this protocol on the same items
    gap: float | None = None  # expert - naive judge on the paired items (expert = 1)
    gap_ci: tuple[float, float] | None = None  # includes 0: flagged small-gap
    n_paired: int | None = None
    n_one_order: int = 0  # ok items judged in one answer order only (the other unparsed)
    # position bias, on items judged in both answer orders: accuracy of the judge's
    # single-order P(right) when the right answer was shown first (A) vs second (B)
    position_n: int | None = None
    acc_right_shown_first: float | None = None
    acc_right_shown_first_ci: tuple[float, float] | None = None
    acc_right_shown_second: float | None = None
    acc_right_shown_second_ci: tuple[float, float] | None = None
    position_bias: float | None = None  # first - second (paired)
    position_bias_ci: tuple[float, float] | None = None
    # speaking order (debate): the right answer's debater spoke first vs second
    speaking_n: int | None = None
    acc_right_spoke_first: float | None = None
    acc_right_spoke_first_ci: tuple[float, float] | None = None
    acc_right_spoke_second: float | None = None
    acc_right_spoke_second_ci: tuple[float, float] | None = None
    speaking_bias: float | None = None  # first - second (paired)
    speaking_bias_ci: tuple[float, float] | None = None
    consultant_right_accuracy: float | None = None
    consultant_right_ci: tuple[float, float] | None = None
    consultant_wrong_accuracy: float | None = None
    consultant_wrong_ci: tuple[float, float] | None = None
    quotes: int = 0
    quotes_verified: int = 0
    methods: dict[str, int] = {}  # judge verdict method -> count (over both orders)
    transcripts: str  # path relative to the run directory
    flags: list[str] = []


class SeedAggregate(BaseModel):
    """One protocol over every seed of the run (k >= 2 seeds).

    Each seed is one replicate: accuracy is the mean of the per-seed
    accuracies with a t interval on k - 1 degrees of freedom
    (:func:`sandwich.metrics.replicates.mean_ci`); gap closed is
    mean(protocol - naive) / mean(expert - naive) over the seeds with
    Fieller's interval (:func:`sandwich.metrics.replicates.ratio_ci`), which
    is unbounded (``gap_closed_bounded`` False, no CI) when the mean gap is
    not clearly above 0.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["protocol"] = "protocol"
    task: str = ""
    protocol: str
    name: str
    seeds: list[int]
    k: int
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None
    gap_closed: float | None = None
    gap_closed_ci: tuple[float, float] | None = None
    gap_closed_bounded: bool | None = None
    flags: list[str] = []


class Failure(BaseModel):
    """An item that failed after the backend's retries (running again retries it)."""

    model_config = ConfigDict(extra="forbid")

    task: str = ""
    protocol: str
    seed: int
    item_id: str
    reason: str
