"""The w2s experiment kind: weak supervisor -> strong student, PGR against a ceiling.

These are the entry points the engine calls; the kind's stages live in the
modules they are imported from.
"""

from sandwich.runs.aggregate import aggregate, run_warnings
from sandwich.runs.cell import CellOutcome, run_cell
from sandwich.runs.controls import compare_to_controls
from sandwich.runs.features import feature_jobs

__all__ = [
    "CellOutcome",
    "aggregate",
    "compare_to_controls",
    "feature_jobs",
    "run_cell",
    "run_warnings",
]
