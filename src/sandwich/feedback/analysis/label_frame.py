"""Label records as one validated pandas DataFrame: the input of every
aggregation and quality function (:mod:`~sandwich.feedback.analysis.label_aggregation`,
:mod:`~sandwich.feedback.analysis.quality`) and of the ``human`` Supervisor.

One row per label a rater gave. Columns:

=============  ========  =====================================================
column         required  meaning
=============  ========  =====================================================
item_id        yes       the item's id (``task`` is accepted as an alias)
rater_id       yes       who labelled it (a string; ints are converted)
answer         yes       the rater's answer: True = "the statement is true"
condition      no        the assistance condition (default ``"none"``)
confidence     no        the rater's stated probability that *their answer* is
                         right, in [0.5, 1] (default 1.0)
is_gold        no        a gold/attention check item (default False)
is_training    no        a training-phase item (default False); training
                         labels are dropped by :func:`as_label_frame`
truth          no        the expert (gold) answer of the item, when known
seconds        no        time the rater spent on the item
is_attention   no        an attention check (instructed answer in ``truth``);
                         not a task item (default False)
excluded       no        left out of the analysis (default False): see
                         :func:`sandwich.feedback.analysis.exclusions.apply_exclusions`
exclusion_reason  no     why (default "")
=============  ========  =====================================================

Booleans may be given as true/false, 1/0, yes/no (any case). A bad value fails
with a :class:`~sandwich.errors.ConfigError` naming the row and the column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sandwich.errors import ConfigError, InputFileError
from sandwich.feedback.analysis.csv_safe import restore_frame
from sandwich.tasks.files import jsonl_rows

REQUIRED = ("item_id", "rater_id", "answer")
BOOL_COLUMNS = ("answer", "is_gold", "is_training", "is_attention", "excluded")
COLUMNS = (
    "item_id",
    "rater_id",
    "condition",
    "answer",
    "confidence",
    "is_gold",
    "is_training",
    "truth",
    "seconds",
    "is_attention",
    "excluded",
    "exclusion_reason",
)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _to_bool(value: Any, row: int, column: str, source: str, allow_missing: bool) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        if allow_missing:
            return None
        raise ConfigError(f"{source}: row {row}: {column} is missing")
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if allow_missing and text == "":
        return None
    raise ConfigError(f"{source}: row {row}: {column} must be true/false, got {value!r}")


def as_label_frame(
    data: pd.DataFrame | Iterable[Mapping[str, Any]],
    source: str = "labels",
    keep_training: bool = False,
) -> pd.DataFrame:
    """Validate label records and return them as a DataFrame with every column of
    :data:`COLUMNS` (defaults filled in). Training labels are dropped unless
    ``keep_training``. ``source`` names the input in error messages."""
    frame = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(list(data))
    if "item_id" not in frame.columns and "task" in frame.columns:
        frame = frame.rename(columns={"task": "item_id"})
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"{source}: missing column(s) {', '.join(missing)} "
            f"(a label record needs {', '.join(REQUIRED)}; "
            f"got {', '.join(map(str, frame.columns))})"
        )
    frame = frame.reset_index(drop=True)
    rows = range(1, len(frame) + 1)
    for col in ("item_id", "rater_id"):
        bad = [r for r, v in zip(rows, frame[col], strict=True) if pd.isna(v) or str(v) == ""]
        if bad:
            raise ConfigError(f"{source}: row {bad[0]}: {col} is empty")
        frame[col] = frame[col].astype(str)
    for col, default in (("condition", "none"), ("exclusion_reason", "")):
        frame[col] = frame[col].fillna(default).astype(str) if col in frame else default
    _booleans(frame, source)
    frame["confidence"] = _numbers(frame, "confidence", 1.0, source)
    bad = frame.index[(frame["confidence"] < 0.5) | (frame["confidence"] > 1.0)]
    if len(bad):
        r = int(bad[0])
        raise ConfigError(
            f"{source}: row {r + 1}: confidence must be in [0.5, 1] (the rater's probability "
            f"that their answer is right), got {frame['confidence'].iloc[r]!r}"
        )
    frame["seconds"] = _numbers(frame, "seconds", float("nan"), source)
    dup = frame.duplicated(["item_id", "rater_id"], keep="first")
    if dup.any():
        r = int(dup.to_numpy().nonzero()[0][0])
        raise ConfigError(
            f"{source}: row {r + 1}: rater {frame['rater_id'].iloc[r]!r} labelled item "
            f"{frame['item_id'].iloc[r]!r} twice (one label per rater and item)"
        )
    if not keep_training:
        frame = frame[~frame["is_training"]].reset_index(drop=True)
    return frame[list(COLUMNS)]


def _booleans(frame: pd.DataFrame, source: str) -> None:
    """Convert :data:`BOOL_COLUMNS` (missing: False) and ``truth`` (missing: NA) in place."""
    rows = range(1, len(frame) + 1)
    for col in BOOL_COLUMNS:
        if col in frame:
            frame[col] = [
                _to_bool(v, r, col, source, allow_missing=col != "answer")
                for r, v in zip(rows, frame[col], strict=True)
            ]
            frame[col] = frame[col].fillna(False).astype(bool)
        else:
            frame[col] = False
    if "truth" in frame:
        truth = [
            _to_bool(v, r, "truth", source, True) for r, v in zip(rows, frame["truth"], strict=True)
        ]
        frame["truth"] = pd.array(truth, dtype="boolean")
    else:
        frame["truth"] = pd.array([None] * len(frame), dtype="boolean")


def _numbers(frame: pd.DataFrame, col: str, default: float, source: str) -> pd.Series:
    if col not in frame:
        return pd.Series([default] * len(frame), dtype="float64")
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna() & (frame[col].astype(str).str.strip() != "")
    if bad.any():
        r = int(bad.to_numpy().nonzero()[0][0])
        raise ConfigError(
            f"{source}: row {r + 1}: {col} must be a number, got {frame[col].iloc[r]!r}"
        )
    return values.fillna(default).astype("float64")


def read_labels(path: str | Path, keep_training: bool = False) -> pd.DataFrame:
    """Read an exported labels file (``.csv`` or ``.jsonl``) into a validated frame."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"labels file {p} does not exist (export one with `sandwich study export`)"
        )
    suffix = p.suffix.lower()
    if suffix == ".csv":
        try:
            frame = pd.read_csv(p, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InputFileError(p, None, f"not a readable CSV: {exc}") from None
        frame = restore_frame(frame).replace({"": None})  # undo the export's CSV guard
    elif suffix in (".jsonl", ".ndjson"):
        frame = pd.DataFrame([rec for _, rec in jsonl_rows(p)])
    else:
        raise ConfigError(f"labels file {p}: unknown format {suffix!r} (use .csv or .jsonl)")
    if frame.empty:
        raise InputFileError(p, None, "no label records")
    return as_label_frame(frame, source=str(p), keep_training=keep_training)


def truth_map(frame: pd.DataFrame) -> dict[str, bool]:
    """item_id -> expert answer, from the ``truth`` column (items without one are left out)."""
    known = frame.dropna(subset=["truth"]).drop_duplicates("item_id")
    return {str(i): bool(t) for i, t in zip(known["item_id"], known["truth"], strict=True)}
