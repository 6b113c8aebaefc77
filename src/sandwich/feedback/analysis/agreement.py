"""Inter-rater agreement per condition, overall and per label, with bootstrap CIs.

For each condition the main items (not gold, not training) with at least two
labels form a count table ``n[i, j]``: how many raters gave item ``i`` the
answer ``j`` (``m_i = sum_j n[i, j]`` raters on item ``i``). From it:

- **Fleiss' kappa** (Fleiss 1971): ``P_i = sum_j n_ij (n_ij - 1) / (m_i (m_i - 1))``,
  ``P = mean_i P_i``, ``p_j = sum_i n_ij / sum_i m_i``, ``P_e = sum_j p_j^2``,
  ``kappa = (P - P_e) / (1 - P_e)``. With the same number of raters on every item
  this is Fleiss' formula exactly; with unequal numbers (a study in progress)
  it is its usual generalisation (each item's share of agreeing pairs).
- **Per-label kappa**: Fleiss' kappa of the table collapsed to "label j" vs
  "any other label" (Fleiss' per-category kappa). With two labels (True and
  False) both per-label kappas equal the overall kappa, by definition; the
  per-label rows then differ only in specific agreement.
- **Krippendorff's alpha** (nominal), from the ``krippendorff`` package for the
  point estimate; the bootstrap uses the same closed form (coincidence
  matrix: ``alpha = 1 - (n - 1) (n - sum_c o_cc) / (n^2 - sum_c n_c^2)``),
  checked against the package in the tests.
- **Specific agreement** of label j: given one rater said j on an item, the
  chance that another rater of the item said j too (``o_jj / n_j``; for two
  raters, positive agreement ``2a / (2a + b + c)``).

CIs (95%): kappa, alpha and specific agreement by percentile bootstrap over
items (items drawn with replacement, all labels of a drawn item kept),
``n_boot`` replicates, fixed seed. Observed agreement (row ``all``) is a mean
of per-item shares ``P_i`` in [0, 1]; near its ceiling a bootstrap interval of
it behaves like a Wald interval of a proportion near 1 (when few items are
split it lies wholly above the truth too often) and covered 0.928 with 60
items x 3 labels at agreement 0.90. Its CI (:func:`mean_share_interval`) is
instead Wilson's score interval with the effective number of items (Kish's
design effect of a mean of bounded values): ``n_eff = N P (1 - P) / s^2``
(``s^2`` the sample variance of the ``P_i``; ``N`` if it is 0), ``P`` taken as
a proportion of ``n_eff`` trials, and the t quantile with ``N - 1`` degrees of
freedom for ``z``. It stays inside [0, 1], always contains ``P``, does not
collapse to [1, 1] when every item agrees fully, and for 0/1 shares is
Wilson's interval of a proportion. It needs no bootstrap but, like the others,
is reported only when ``n_boot > 0``. Coverage at 95% nominal in the four
scenarios of ``tests/feedback/test_agreement_coverage.py``, 10,000 studies
each: 0.955, 0.952, 0.952 and 0.941 near the ceiling (bootstrap: 0.946, 0.949,
0.950, 0.928); ``benchmarks/agreement_coverage.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sandwich.feedback.analysis.label_frame import as_label_frame
from sandwich.metrics import Interval, percentile_interval, resample_counts

COLUMNS = [
    "condition",
    "label",
    "n_items",
    "n_labels",
    "agreement",
    "agreement_low",
    "agreement_high",
    "kappa",
    "kappa_low",
    "kappa_high",
    "alpha",
    "alpha_low",
    "alpha_high",
]


def count_table(
    frame: pd.DataFrame, categories: Sequence[Any] = (True, False)
) -> tuple[np.ndarray, list[str]]:
    """(items x categories) counts of the answers, items with two labels or more;
    and the item ids of the rows."""
    counts = pd.crosstab(frame["item_id"], frame["answer"]).reindex(
        columns=list(categories), fill_value=0
    )
    counts = counts[counts.sum(axis=1) >= 2]
    return counts.to_numpy(dtype=np.float64), [str(i) for i in counts.index]


def _weights(counts: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """(B, N) item weights: the bootstrap multiplicities, or one row of ones."""
    return np.ones((1, counts.shape[0])) if w is None else np.atleast_2d(w).astype(np.float64)


def fleiss_kappa(counts: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Fleiss' kappa of an (items x categories) count table, one value per row
    of item weights ``w`` (B, items); NaN where chance agreement is 1."""
    counts = np.asarray(counts, dtype=np.float64)
    W = _weights(counts, w)
    m = counts.sum(axis=1)
    p_item = (counts * (counts - 1)).sum(axis=1) / (m * (m - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        p_bar = W @ p_item / W.sum(axis=1)
        p_j = (W @ counts) / (W @ m)[:, None]
        p_e = (p_j**2).sum(axis=1)
        kappa = (p_bar - p_e) / (1 - p_e)
    return np.where(np.isclose(p_e, 1.0), np.nan, kappa)


def per_label_kappa(counts: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """(B, categories) Fleiss' per-category kappa: kappa of "j" vs "not j"."""
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.sum(axis=1)
    cols = [
        fleiss_kappa(np.stack([counts[:, j], m - counts[:, j]], axis=1), w)
        for j in range(counts.shape[1])
    ]
    return np.stack(cols, axis=1)


def _coincidence(counts: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, categories) diagonal of the coincidence matrix and value totals."""
    m = counts.sum(axis=1)
    o_diag = W @ (counts * (counts - 1) / (m - 1)[:, None])
    return o_diag, W @ counts


def alpha_nominal(counts: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Krippendorff's alpha (nominal) of a count table, one value per weight row."""
    counts = np.asarray(counts, dtype=np.float64)
    o_diag, n_c = _coincidence(counts, _weights(counts, w))
    n = n_c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = n**2 - (n_c**2).sum(axis=1)
        alpha = 1 - (n - 1) * (n - o_diag.sum(axis=1)) / expected
    return np.where(expected > 0, alpha, np.nan)


def specific_agreement(counts: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """(B, categories) chance that another rater of the item gave the same label."""
    counts = np.asarray(counts, dtype=np.float64)
    o_diag, n_c = _coincidence(counts, _weights(counts, w))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_c > 0, o_diag / n_c, np.nan)


def krippendorff_alpha_counts(counts: np.ndarray) -> float:
    """Krippendorff's alpha (nominal) by the ``krippendorff`` package; NaN if undefined."""
    import krippendorff

    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape[0] == 0 or (counts.sum(axis=0) > 0).sum() < 2:
        return float("nan")
    return float(krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))


def mean_share_interval(shares: np.ndarray, alpha: float = 0.05) -> Interval:
    """Wilson score interval for the mean of per-item shares in [0, 1], with the
    effective number of items ``n_eff = N P (1 - P) / s^2`` and a t quantile
    (``N - 1`` df). Unlike a bootstrap or Wald interval it does not collapse
    onto the ceiling when most items agree fully. (nan, nan) below two items."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    p = np.asarray(shares, dtype=np.float64)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError("shares must be a 1-d array of values in [0, 1]")
    n = p.size
    if n < 2:
        return Interval(float("nan"), float("nan"))
    mean, var = float(p.mean()), float(p.var(ddof=1))
    n_eff = n * mean * (1 - mean) / var if var > 0 else float(n)
    z = float(stats.t.ppf(1 - alpha / 2, n - 1))
    centre = (mean + z**2 / (2 * n_eff)) / (1 + z**2 / n_eff)
    half = z / (1 + z**2 / n_eff) * np.sqrt(mean * (1 - mean) / n_eff + z**2 / (4 * n_eff**2))
    return Interval(float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def _row(
    condition: str, label: str, counts: np.ndarray, est: dict[str, float], reps: dict[str, Any]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "condition": condition,
        "label": label,
        "n_items": int(counts.shape[0]),
        "n_labels": int(counts.sum()),
    }
    for key in ("agreement", "kappa", "alpha"):
        r = reps[key]
        ci = r if isinstance(r, Interval) else percentile_interval(r) if r is not None else None
        row[key] = est[key]
        row[f"{key}_low"] = ci.low if ci else float("nan")
        row[f"{key}_high"] = ci.high if ci else float("nan")
    return row


def condition_agreement(
    counts: np.ndarray, condition: str, labels: Sequence[str], n_boot: int, seed: int
) -> list[dict[str, Any]]:
    """The rows of one condition: ``all`` (overall), then one per label."""
    nan = float("nan")
    if counts.shape[0] == 0:
        return [
            _row(
                condition,
                lab,
                counts,
                dict.fromkeys(("agreement", "kappa", "alpha"), nan),
                dict.fromkeys(("agreement", "kappa", "alpha")),
            )
            for lab in ("all", *labels)
        ]
    W = resample_counts(counts.shape[0], n_boot, seed) if n_boot > 0 else None
    m = counts.sum(axis=1)
    p_item = (counts * (counts - 1)).sum(axis=1) / (m * (m - 1))
    overall_agree = float(p_item.mean())
    rows = [
        _row(
            condition,
            "all",
            counts,
            {
                "agreement": overall_agree,
                "kappa": float(fleiss_kappa(counts)[0]),
                "alpha": krippendorff_alpha_counts(counts),
            },
            {
                "agreement": mean_share_interval(p_item) if W is not None else None,
                "kappa": fleiss_kappa(counts, W) if W is not None else None,
                "alpha": alpha_nominal(counts, W) if W is not None else None,
            },
        )
    ]
    kappa_j = per_label_kappa(counts)[0]
    spec_j = specific_agreement(counts)[0]
    boot_kappa = per_label_kappa(counts, W) if W is not None else None
    boot_spec = specific_agreement(counts, W) if W is not None else None
    for j, lab in enumerate(labels):
        collapsed = np.stack([counts[:, j], m - counts[:, j]], axis=1)
        rows.append(
            _row(
                condition,
                lab,
                counts,
                {
                    "agreement": float(spec_j[j]),
                    "kappa": float(kappa_j[j]),
                    "alpha": krippendorff_alpha_counts(collapsed),
                },
                {
                    "agreement": boot_spec[:, j] if boot_spec is not None else None,
                    "kappa": boot_kappa[:, j] if boot_kappa is not None else None,
                    "alpha": alpha_nominal(collapsed, W) if W is not None else None,
                },
            )
        )
    return rows


def agreement_table(labels: Any, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Agreement per condition (columns :data:`COLUMNS`): a row ``all`` with the
    observed agreement (share of agreeing rater pairs per item, averaged),
    Fleiss' kappa and Krippendorff's alpha, then one row per label (``true``,
    ``false``) with specific agreement, per-category kappa and alpha of the
    collapsed table; 95% bootstrap CIs over items. Main items only."""
    frame = as_label_frame(labels)
    frame = frame[~frame["is_gold"] & ~frame["is_training"]]
    rows: list[dict[str, Any]] = []
    for cond, g in frame.groupby("condition", sort=True):
        counts, _ = count_table(g)
        rows += condition_agreement(counts, str(cond), ["true", "false"], n_boot, seed)
    return pd.DataFrame(rows, columns=COLUMNS)
