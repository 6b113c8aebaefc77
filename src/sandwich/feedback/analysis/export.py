"""``study export``: the labels as CSV or JSONL, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from sandwich.errors import ConfigError
from sandwich.feedback.analysis.csv_safe import frame_to_csv
from sandwich.feedback.analysis.study_status import labels_frame
from sandwich.feedback.store.db import Study
from sandwich.store.atomic import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd


def export_problem(s: Session, study: Study) -> str | None:
    """Why the study's export could not be read back as label records (by
    ``read_labels`` or a ``human`` supervisor), or None when it can."""
    from sandwich.feedback.analysis.label_frame import as_label_frame

    frame = labels_frame(s, study, include_training=True)
    if frame.empty:
        return None
    try:
        as_label_frame(frame, source=f"study {study.name}", keep_training=True)
    except Exception as exc:
        return str(exc)
    return None


def export_labels(s: Session, study: Study, path: Path, include_training: bool = False) -> int:
    """Write every label of ``study`` to ``path`` (.csv or .jsonl); returns the count.
    The file holds every label as stored; :func:`export_problem` says whether
    it can be read back as label records."""
    _check_suffix(path)  # before reading the labels
    return write_labels(labels_frame(s, study, include_training=include_training), path)


def write_labels(frame: pd.DataFrame, path: Path) -> int:
    """Write a label frame (from :func:`labels_frame`) to ``path`` (.csv or .jsonl),
    atomically; returns the count."""
    if _check_suffix(path) == ".csv":
        text = frame_to_csv(frame) or ""  # formula-looking cells get a leading '
    else:
        text = "".join(json.dumps(rec) + "\n" for rec in frame.to_dict("records"))
    atomic_write_text(path, text)
    return len(frame)


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise ConfigError(f"export file {path}: use a .csv or .jsonl name, got {suffix!r}")
    return suffix
