"""The w2s experiment kind: weak supervisor -> strong student, PGR against a ceiling.

These are the entry points the engine calls. The kind's modules: ``data``
(:class:`CellData`, one per cell, and the features the cells need),
``stages`` (supervisor labels, ceiling, student: cached), ``cell`` (one cell
run and measured), ``aggregate`` (groups over seeds, warnings), ``controls``
(elicitors paired with their declared controls).
"""

from sandwich.runs.w2s.aggregate import aggregate, run_warnings
from sandwich.runs.w2s.cell import CellOutcome, run_cell
from sandwich.runs.w2s.controls import compare_to_controls
from sandwich.runs.w2s.data import CellData, contrast_jobs, feature_jobs

__all__ = [
    "CellData",
    "CellOutcome",
    "aggregate",
    "compare_to_controls",
    "contrast_jobs",
    "feature_jobs",
    "run_cell",
    "run_warnings",
]
