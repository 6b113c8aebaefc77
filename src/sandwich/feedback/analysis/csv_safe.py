"""CSV cells that a spreadsheet will not run as formulas (CSV injection).

A rater controls their PID and their reason text; a cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken as a formula
by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` becomes a live
link). OWASP's advice is followed: such a text cell gets a leading ``'``,
which spreadsheets show as plain text. Only text cells are touched, so
numbers (a negative number is a float column, not text) stay numbers; JSONL
exports stay raw.

The mapping is undone exactly by :func:`restore`: a text cell that already
starts with quotes followed by a trigger character gets one more quote, so
reading a CSV export back (``read_labels``, the ``human`` supervisor) gives
the original strings.
"""

from __future__ import annotations

import re
from typing import IO, Any

import pandas as pd

TRIGGERS = "=+-@\t\r"
_RISKY = re.compile(r"'*[=+\-@\t\r]")
_GUARDED = re.compile(r"'+[=+\-@\t\r]")


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula."""
    if isinstance(value, str) and _RISKY.match(value):
        return "'" + value
    return value


def restore(value: Any) -> Any:
    """The inverse of :func:`neutralise` on a cell read back from CSV."""
    if isinstance(value, str) and _GUARDED.match(value):
        return value[1:]
    return value


def _map_text(frame: pd.DataFrame, fn: Any) -> pd.DataFrame:
    """A copy with ``fn`` applied to every text (object/string) cell; other columns as they are."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(fn)
    return out


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell neutralised; other columns as they are."""
    return _map_text(frame, neutralise)


def restore_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A CSV export read with ``dtype=str`` with :func:`neutralise` undone."""
    return _map_text(frame, restore)


def frame_to_csv(frame: pd.DataFrame, buf: IO[str] | None = None) -> str | None:
    """``frame.to_csv(index=False)`` with formula-looking text cells neutralised."""
    return neutralise_frame(frame).to_csv(buf, index=False)
