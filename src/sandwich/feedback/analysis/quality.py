"""Quality control of human labels: agreement, per-rater gold accuracy, a
per-condition summary, and the human sandwich metric with CIs.

All functions take label records (a DataFrame or a list of dicts; see
:mod:`~sandwich.feedback.analysis.label_frame`) and are pure.

The human sandwich metric ("sandwich gap closed", DESIGN.md)::

    gap_closed = (assisted - unassisted) / (expert - unassisted)

where each term is the accuracy of one condition's labels against the
expert answer (``truth``). By default the expert is the answer key itself
(accuracy 1.0); give ``expert=<condition>`` when experts labelled too. The
accuracy of a condition is the share of its labels that are right (every
label counts once, so raters with more labels weigh more). Gold check items
are left out (they are chosen to be easy). This is the accuracy of single
labels (of one rater), not of the per-item aggregate the ``human``
supervisor trains on (``feedback.aggregate``): with several labels per item
the aggregate is usually more accurate.

CIs: over raters and items. Both are samples: another study would have
other raters and other items, and raters differ in skill, so an interval
that resamples items only is too narrow (with realistic rater differences it
covered 46-80% at 95% nominal in ``benchmarks/coverage.py``). Items are
resampled once for every condition (the comparison stays paired), raters
within their condition; the variance is corrected for label noise counted
twice and the interval widened for few raters
(:func:`sandwich.metrics.crossed.crossed_ratio_interval`, whose coverage is
in docs/results.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import pandas as pd

from sandwich.errors import ConfigError
from sandwich.feedback.analysis.label_frame import as_label_frame, truth_map
from sandwich.metrics import DEFAULT_MIN_GAP, Interval
from sandwich.metrics.crossed import CrossedLabels, crossed_ratio_interval

Labels: TypeAlias = pd.DataFrame | Iterable[Mapping[str, Any]]


def krippendorff_alpha(labels: Labels, condition: str | None = None) -> float:
    """Krippendorff's alpha (nominal) of the answers, over raters x items.

    Items with one label carry no information about agreement and are ignored
    by alpha's definition. NaN when alpha is undefined: no item has two
    labels, or every label has the same answer (no variation to agree on).
    Uses the ``krippendorff`` package.
    """
    import krippendorff

    frame = as_label_frame(labels)
    if condition is not None:
        frame = frame[frame["condition"] == condition]
    per_item = frame.groupby("item_id").size()
    paired = frame[frame["item_id"].isin(per_item.index[per_item >= 2])]
    if paired.empty or paired["answer"].nunique() < 2:
        return float("nan")
    matrix = paired.pivot(index="rater_id", columns="item_id", values="answer").astype(float)
    return float(
        krippendorff.alpha(reliability_data=matrix.to_numpy(), level_of_measurement="nominal")
    )


def _with_truth(frame: pd.DataFrame, truth: Mapping[str, bool] | None) -> pd.Series:
    """The expert answer of each label's item (NaN/None where unknown)."""
    key = dict(truth_map(frame))
    if truth is not None:
        key.update({str(k): bool(v) for k, v in truth.items()})
    return frame["item_id"].map(key)


def rater_quality(
    labels: Labels,
    truth: Mapping[str, bool] | None = None,
    pass_threshold: float | None = None,
) -> pd.DataFrame:
    """One row per rater: condition(s), n_labels, n_gold, gold_correct,
    gold_accuracy (NaN without gold labels), passed (gold_accuracy >=
    pass_threshold; None without a threshold or gold labels), accuracy on all
    items whose expert answer is known, mean confidence, median seconds.

    ``truth`` (item_id -> expert answer) adds to / overrides the labels'
    ``truth`` column.
    """
    frame = as_label_frame(labels)
    right = (frame["answer"] == _with_truth(frame, truth)).where(_with_truth(frame, truth).notna())
    frame = frame.assign(right=right.astype("float64"))
    rows = []
    for rater, g in frame.groupby("rater_id", sort=True):
        gold = g[g["is_gold"]]
        known_gold = gold["right"].dropna()
        gold_acc = float(known_gold.mean()) if len(known_gold) else float("nan")
        rows.append(
            {
                "rater_id": rater,
                "condition": ",".join(sorted(g["condition"].unique())),
                "n_labels": len(g),
                "n_gold": len(known_gold),
                "gold_correct": int(known_gold.sum()),
                "gold_accuracy": gold_acc,
                "passed": None
                if pass_threshold is None or np.isnan(gold_acc)
                else bool(gold_acc >= pass_threshold),
                "accuracy": float(g["right"].mean()) if g["right"].notna().any() else float("nan"),
                "mean_confidence": float(g["confidence"].mean()),
                "median_seconds": float(g["seconds"].median()),
            }
        )
    return pd.DataFrame(rows, columns=_RATER_COLUMNS)


_RATER_COLUMNS = [
    "rater_id",
    "condition",
    "n_labels",
    "n_gold",
    "gold_correct",
    "gold_accuracy",
    "passed",
    "accuracy",
    "mean_confidence",
    "median_seconds",
]


def condition_summary(labels: Labels, truth: Mapping[str, bool] | None = None) -> pd.DataFrame:
    """One row per condition: raters, items, labels, labels per item, alpha,
    median seconds per item, and accuracy of the labels on non-gold items with
    a known expert answer (NaN if none)."""
    frame = as_label_frame(labels)
    frame = frame.assign(expert=_with_truth(frame, truth))
    rows = []
    for cond, g in frame.groupby("condition", sort=True):
        scored = g[~g["is_gold"] & g["expert"].notna()]
        rows.append(
            {
                "condition": cond,
                "n_raters": g["rater_id"].nunique(),
                "n_items": g["item_id"].nunique(),
                "n_labels": len(g),
                "labels_per_item": len(g) / g["item_id"].nunique(),
                "alpha": krippendorff_alpha(g),
                "median_seconds": float(g["seconds"].median()),
                "accuracy": float((scored["answer"] == scored["expert"]).mean())
                if len(scored)
                else float("nan"),
            }
        )
    return pd.DataFrame(rows)


class HumanSandwichResult(NamedTuple):
    """The human sandwich metric with crossed-bootstrap CIs (raters and items)."""

    gap_closed: float
    gap_closed_ci: Interval
    assisted_acc: float
    assisted_acc_ci: Interval
    unassisted_acc: float
    unassisted_acc_ci: Interval
    expert_acc: float
    expert_acc_ci: Interval
    gap: float  # expert_acc - unassisted_acc
    gap_ci: Interval
    small_gap: bool  # gap CI includes 0, or gap < min_gap: the metric is not meaningful
    n_items: int
    n_labels: dict[str, int]
    n_boot: int
    n_undefined: int  # replicates with a resampled gap of exactly 0
    n_raters: dict[str, int]
    same_items: bool = True  # every condition labelled the same (non-gold) items
    warnings: tuple[str, ...] = ()
    # with aggregate_method: the same metric scored on the per-item aggregate of each
    # condition's labels (what the ``human`` supervisor trains on); points only, no CI
    aggregated: dict[str, float] | None = None


def _crossed_labels(frame: pd.DataFrame, conditions: list[str]) -> CrossedLabels:
    """Right and all labels per (rater, item) in each condition, for the crossed interval.

    Raters are stratified by the set of conditions they labelled in: a rater
    of one condition is resampled among that condition's raters; raters who
    labelled in several conditions are resampled together, their labels in
    every condition at once (which keeps a within-rater design paired).
    """
    items = sorted(frame["item_id"].unique())
    raters = sorted(frame["rater_id"].unique())
    item_pos = frame["item_id"].map({x: k for k, x in enumerate(items)}).to_numpy()
    rater_pos = frame["rater_id"].map({x: k for k, x in enumerate(raters)}).to_numpy()
    right = (frame["answer"] == frame["expert_answer"].astype(bool)).to_numpy(dtype=float)
    shape = (len(raters), len(items))
    counts, totals = [], []
    for c in conditions:
        in_c = (frame["condition"] == c).to_numpy()
        flat = rater_pos[in_c] * len(items) + item_pos[in_c]
        size = shape[0] * shape[1]
        counts.append(np.bincount(flat, weights=right[in_c], minlength=size).reshape(shape))
        totals.append(np.bincount(flat, minlength=size).astype(float).reshape(shape))
    member = frame.groupby("rater_id")["condition"].agg(lambda v: tuple(sorted(set(v))))
    groups: dict[tuple[str, ...], list[int]] = {}
    for k, r in enumerate(raters):
        groups.setdefault(member[r], []).append(k)
    return CrossedLabels(counts, totals, [np.array(v) for _, v in sorted(groups.items())])


def _design_warnings(frame: pd.DataFrame, conditions: list[str]) -> tuple[bool, list[str]]:
    """Whether the conditions labelled the same items, and what to warn about."""
    notes = []
    item_sets = {c: set(frame.loc[frame["condition"] == c, "item_id"]) for c in conditions}
    every = set().union(*item_sets.values())
    same = all(s == every for s in item_sets.values())
    if not same:
        parts = ", ".join(f"{c}: {len(every - s)} missing" for c, s in item_sets.items())
        notes.append(
            f"the conditions did not label the same items ({parts} of {len(every)}): "
            "the comparison is not paired on those items and item difficulty can bias it"
        )
    for c in conditions:
        n = frame.loc[frame["condition"] == c, "rater_id"].nunique()
        if n < 2:
            notes.append(
                f"condition {c!r} has {n} rater: the interval cannot include between-rater variance"
            )
    return same, notes


def human_sandwich(
    labels: Labels,
    assisted: str,
    unassisted: str,
    expert: str | None = None,
    truth: Mapping[str, bool] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    min_gap: float = DEFAULT_MIN_GAP,
    aggregate_method: str | None = None,
) -> HumanSandwichResult:
    """(assisted - unassisted) / (expert - unassisted), with CIs (module docstring).

    The metric and its CIs are on single labels. With ``aggregate_method``
    (e.g. ``dawid-skene``, the ``human`` supervisor's default) ``aggregated``
    also gives each condition's accuracy of its per-item aggregate and the gap
    closed of those (points only: the interval's coverage is measured for the
    label-level metric).

    A design problem (conditions that labelled different items, a condition
    with one rater) is returned in ``warnings`` and raised as a
    ``UserWarning``.
    """
    conditions = [assisted, unassisted] + ([expert] if expert is not None else [])
    frame = _sandwich_frame(labels, truth, conditions)
    same, notes = _design_warnings(frame, conditions)
    for note in notes:
        warnings.warn(f"human_sandwich: {note}", UserWarning, stacklevel=2)
    res = crossed_ratio_interval(_crossed_labels(frame, conditions), n_boot, seed, alpha)
    p, ci = res.point, res.ci
    gap = p["gap"]
    return HumanSandwichResult(
        gap_closed=p["closed"],
        gap_closed_ci=ci["closed"],
        assisted_acc=p["assisted"],
        assisted_acc_ci=ci["assisted"],
        unassisted_acc=p["unassisted"],
        unassisted_acc_ci=ci["unassisted"],
        expert_acc=p["expert"],
        expert_acc_ci=ci["expert"],
        gap=gap,
        gap_ci=ci["gap"],
        small_gap=bool(gap < min_gap or ci["gap"].contains(0.0) or np.isnan(ci["gap"].low)),
        n_items=int(frame["item_id"].nunique()),
        n_labels={c: int((frame["condition"] == c).sum()) for c in conditions},
        n_boot=n_boot,
        n_undefined=res.n_undefined,
        n_raters={
            c: int(frame.loc[frame["condition"] == c, "rater_id"].nunique()) for c in conditions
        },
        same_items=same,
        warnings=tuple(notes),
        aggregated=None
        if aggregate_method is None
        else _aggregated_metric(frame, conditions, aggregate_method, expert is not None),
    )


def _sandwich_frame(
    labels: Labels, truth: Mapping[str, bool] | None, conditions: list[str]
) -> pd.DataFrame:
    """The non-gold labels of ``conditions`` with each item's ``expert_answer``; every
    condition must have labels and every item an expert answer."""
    frame = as_label_frame(labels)
    frame = frame.assign(expert_answer=_with_truth(frame, truth))
    frame = frame[~frame["is_gold"]]
    present = sorted(frame["condition"].unique())
    for c in conditions:
        if c not in present:
            raise ConfigError(
                f"human_sandwich: no labels in condition {c!r} (present: {', '.join(present)})"
            )
    frame = frame[frame["condition"].isin(conditions)]
    unknown = frame["expert_answer"].isna()
    if unknown.any():
        ids = sorted(frame.loc[unknown, "item_id"].unique())
        raise ConfigError(
            f"human_sandwich: {len(ids)} item(s) have no expert answer, e.g. {ids[:3]}: "
            "give truth={item_id: answer} or a truth column"
        )
    return frame


def _aggregated_metric(
    frame: pd.DataFrame, conditions: list[str], method: str, has_expert: bool
) -> dict[str, float]:
    """Accuracy of each condition's per-item aggregate (hard label P(true) > 0.5),
    and the gap closed computed from those accuracies."""
    from sandwich.feedback.analysis.label_aggregation import aggregate

    truth = frame.groupby("item_id")["expert_answer"].first().astype(bool)
    acc = {}
    for c in conditions:
        agg = aggregate(frame[frame["condition"] == c], method, source=f"condition {c!r}")
        acc[c] = float((agg.labels == truth.reindex(agg.labels.index)).mean())
    a, u = acc[conditions[0]], acc[conditions[1]]
    e = acc[conditions[2]] if has_expert else 1.0
    closed = (a - u) / (e - u) if e != u else float("nan")
    return {"assisted": a, "unassisted": u, "expert": e, "gap_closed": closed}
