"""Metrics: pure functions over numpy arrays (no other sandwich imports).

Point metrics (:mod:`~sandwich.metrics.pointwise`), the paired bootstrap
(:mod:`~sandwich.metrics.bootstrap`) and PGR with CIs
(:mod:`~sandwich.metrics.pgr_ci`).
"""

from sandwich.metrics.bootstrap import (
    Interval,
    bootstrap_accuracies,
    paired_bootstrap,
    percentile_interval,
    resample_counts,
    resample_indices,
)
from sandwich.metrics.judge import (
    GapClosed,
    JudgeAccuracy,
    SplitAccuracy,
    gap_closed,
    judge_accuracy,
    judge_scores,
    split_accuracy,
)
from sandwich.metrics.pgr_ci import (
    DEFAULT_MIN_GAP,
    PGRResult,
    SeedPredictions,
    pgr_with_ci,
    pgr_with_ci_over_seeds,
)
from sandwich.metrics.pointwise import (
    accuracy,
    agreement,
    agreement_on_errors,
    auroc,
    brier,
    ece,
    pgr,
    small_test_warning,
)

__all__ = [
    "DEFAULT_MIN_GAP",
    "GapClosed",
    "Interval",
    "JudgeAccuracy",
    "PGRResult",
    "SeedPredictions",
    "SplitAccuracy",
    "accuracy",
    "agreement",
    "agreement_on_errors",
    "auroc",
    "bootstrap_accuracies",
    "brier",
    "ece",
    "gap_closed",
    "judge_accuracy",
    "judge_scores",
    "paired_bootstrap",
    "percentile_interval",
    "pgr",
    "pgr_with_ci",
    "pgr_with_ci_over_seeds",
    "resample_counts",
    "resample_indices",
    "small_test_warning",
    "split_accuracy",
]
