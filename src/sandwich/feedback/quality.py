"""Quality control of human labels: agreement, per-rater gold accuracy, a
per-condition summary, and the human sandwich metric with CIs.

All functions take label records (a DataFrame or a list of dicts; see
:mod:`~sandwich.feedback.label_table`) and are pure.

The human sandwich metric ("sandwich gap closed", DESIGN.md)::

    gap_closed = (assisted - unassisted) / (expert - unassisted)

where each term is the accuracy of one condition's labels against the
expert answer (``truth``). By default the expert is the answer key itself
(accuracy 1.0); give ``expert=<condition>`` when experts labelled too. The
accuracy of a condition is the share of its labels that are right (every
label counts once, so raters with more labels weigh more). Gold check items
are left out (they are chosen to be easy). CIs: a paired bootstrap over
items: each replicate draws items with replacement and takes every label of
each drawn item, in every condition at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import pandas as pd

from sandwich.errors import ConfigError
from sandwich.feedback.label_table import as_label_frame, truth_map
from sandwich.metrics import DEFAULT_MIN_GAP, Interval, percentile_interval, resample_counts

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
    """The human sandwich metric with paired-bootstrap CIs."""

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
) -> HumanSandwichResult:
    """(assisted - unassisted) / (expert - unassisted), with CIs (module docstring)."""
    frame = as_label_frame(labels)
    frame = frame.assign(expert_answer=_with_truth(frame, truth))
    frame = frame[~frame["is_gold"]]
    conditions = [assisted, unassisted] + ([expert] if expert is not None else [])
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
    items = sorted(frame["item_id"].unique())
    pos = {item: k for k, item in enumerate(items)}
    right = (frame["answer"] == frame["expert_answer"].astype(bool)).to_numpy()
    where = frame["item_id"].map(pos).to_numpy()
    counts = resample_counts(len(items), n_boot, seed)  # (n_boot, n_items)
    cols = []
    points = []
    for c in conditions:
        in_c = (frame["condition"] == c).to_numpy()
        n_c = np.bincount(where[in_c], minlength=len(items)).astype(float)
        k_c = np.bincount(where[in_c], weights=right[in_c], minlength=len(items))
        points.append(k_c.sum() / n_c.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            cols.append((counts @ k_c) / (counts @ n_c))
    if expert is None:
        points.append(1.0)
        cols.append(np.ones(n_boot))
    a, u, e = points
    ra, ru, re = cols
    rep_gap = re - ru
    defined = np.isfinite(rep_gap) & (rep_gap != 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rep_closed = (ra[defined] - ru[defined]) / rep_gap[defined]
    gap = e - u
    gap_ci = percentile_interval(rep_gap, alpha)
    return HumanSandwichResult(
        gap_closed=(a - u) / gap if gap != 0 else float("nan"),
        gap_closed_ci=percentile_interval(rep_closed, alpha),
        assisted_acc=float(a),
        assisted_acc_ci=percentile_interval(ra, alpha),
        unassisted_acc=float(u),
        unassisted_acc_ci=percentile_interval(ru, alpha),
        expert_acc=float(e),
        expert_acc_ci=percentile_interval(re, alpha),
        gap=float(gap),
        gap_ci=gap_ci,
        small_gap=bool(gap < min_gap or gap_ci.contains(0.0) or np.isnan(gap_ci.low)),
        n_items=len(items),
        n_labels={c: int((frame["condition"] == c).sum()) for c in conditions},
        n_boot=n_boot,
        n_undefined=int((~defined).sum()),
    )
