"""Metrics: pure functions over numpy arrays (no other sandwich imports).

Point metrics (:mod:`~sandwich.metrics.pointwise`), the paired bootstrap
(:mod:`~sandwich.metrics.bootstrap`), intervals over independent replicates such as
seeds (:mod:`~sandwich.metrics.replicates`), PGR with CIs (:mod:`~sandwich.metrics.pgr_ci`),
intervals over raters and items (:mod:`~sandwich.metrics.crossed`), calibration
(:mod:`~sandwich.metrics.calibration`), detection operating points
(:mod:`~sandwich.metrics.detection`) and the coverage
harness that measures all of them (:mod:`~sandwich.metrics.coverage`, imported on use).
"""

from sandwich.metrics.bootstrap import (
    Interval,
    bootstrap_accuracies,
    paired_bootstrap,
    percentile_interval,
    resample_counts,
    resample_indices,
)
from sandwich.metrics.crossed import CrossedIntervals, CrossedLabels, crossed_ratio_interval
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
    pgr_over_seed_accuracies,
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
from sandwich.metrics.replicates import MeanInterval, RatioInterval, mean_ci, ratio_ci

__all__ = [
    "DEFAULT_MIN_GAP",
    "CrossedIntervals",
    "CrossedLabels",
    "GapClosed",
    "Interval",
    "JudgeAccuracy",
    "MeanInterval",
    "PGRResult",
    "RatioInterval",
    "SeedPredictions",
    "SplitAccuracy",
    "accuracy",
    "agreement",
    "agreement_on_errors",
    "auroc",
    "bootstrap_accuracies",
    "brier",
    "crossed_ratio_interval",
    "ece",
    "gap_closed",
    "judge_accuracy",
    "judge_scores",
    "mean_ci",
    "paired_bootstrap",
    "percentile_interval",
    "pgr",
    "pgr_over_seed_accuracies",
    "pgr_with_ci",
    "pgr_with_ci_over_seeds",
    "ratio_ci",
    "resample_counts",
    "resample_indices",
    "small_test_warning",
    "split_accuracy",
]
