"""Agreement per label and overall: Fleiss' kappa against the textbook example,
Krippendorff's alpha against the ``krippendorff`` package, bootstrap CIs, and
the numbers in the dashboard and ``sandwich study status``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sandwich.cli import main
from sandwich.feedback.analysis.agreement import (
    agreement_table,
    alpha_nominal,
    condition_agreement,
    fleiss_kappa,
    krippendorff_alpha_counts,
    mean_share_interval,
    per_label_kappa,
    specific_agreement,
)
from sandwich.feedback.analysis.study_status import fmt, labels_frame
from sandwich.feedback.store.studies import get_study

from .conftest import truth_of  # type: ignore[import-not-found]

# Fleiss (1971) as worked in Wikipedia's "Fleiss' kappa" article: 10 subjects,
# 14 raters, 5 categories; P = 0.378, P_e = 0.213, kappa = 0.210
TEXTBOOK = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def test_fleiss_kappa_textbook_example() -> None:
    assert fleiss_kappa(TEXTBOOK)[0] == pytest.approx(0.2099, abs=5e-4)


def test_per_label_kappa_is_fleiss_per_category_formula() -> None:
    n, m = TEXTBOOK.shape[0], 14
    p = TEXTBOOK.sum(axis=0) / (n * m)
    # Fleiss (1971), eq. for kappa_j with the same m raters per subject
    expected = 1 - (TEXTBOOK * (m - TEXTBOOK)).sum(axis=0) / (n * m * (m - 1) * p * (1 - p))
    assert np.allclose(per_label_kappa(TEXTBOOK)[0], expected)
    two = TEXTBOOK[:, :2] + 1  # two labels: both per-label kappas are the overall kappa
    assert np.allclose(per_label_kappa(two)[0], fleiss_kappa(two)[0])


def test_alpha_closed_form_matches_the_krippendorff_package() -> None:
    rng = np.random.default_rng(0)
    for k in (2, 3, 5):
        counts = rng.integers(0, 4, size=(40, k))
        counts = counts[counts.sum(axis=1) >= 2]  # unequal raters per item
        assert alpha_nominal(counts)[0] == pytest.approx(krippendorff_alpha_counts(counts))
    perfect = np.array([[3, 0], [0, 2], [4, 0]])
    assert alpha_nominal(perfect)[0] == pytest.approx(1.0)
    assert fleiss_kappa(perfect)[0] == pytest.approx(1.0)
    assert np.allclose(specific_agreement(perfect)[0], [1.0, 1.0])
    # positive agreement of two raters: 2a / (2a + b + c)
    pairs = np.array([[2, 0]] * 5 + [[1, 1]] * 3 + [[0, 2]] * 2)  # a=5, b+c=3, d=2
    assert specific_agreement(pairs)[0][0] == pytest.approx(10 / 13)
    assert np.isnan(fleiss_kappa(np.array([[3, 0], [2, 0]]))[0])  # one label only: undefined


def _labels(skill: dict[str, float], n_items: int = 60, n_raters: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    truth = rng.random(n_items) < 0.5
    rows = [
        {
            "item_id": f"i{i}",
            "rater_id": f"{c}{r}",
            "condition": c,
            "answer": bool(truth[i] if rng.random() < s else not truth[i]),
        }
        for c, s in skill.items()
        for r in range(n_raters)
        for i in range(n_items)
    ]
    return pd.DataFrame(rows)


def test_agreement_table_orders_conditions_by_skill_with_cis() -> None:
    table = agreement_table(_labels({"good": 0.95, "coin": 0.5}), n_boot=400, seed=0)
    assert list(table["label"]) == ["all", "true", "false"] * 2
    overall = table[table["label"] == "all"].set_index("condition")
    assert overall.loc["good", "kappa"] > 0.6 and abs(overall.loc["coin", "kappa"]) < 0.2
    assert overall.loc["good", "kappa_low"] > overall.loc["coin", "kappa_high"]
    for r in table.to_dict("records"):
        for key in ("agreement", "kappa", "alpha"):
            assert r[f"{key}_low"] <= r[key] <= r[f"{key}_high"], (r["condition"], key)
    again = agreement_table(_labels({"good": 0.95, "coin": 0.5}), n_boot=400, seed=0)
    pd.testing.assert_frame_equal(table, again)  # fixed seed


def test_agreement_in_dashboard_and_status(lab, researcher, capsys, monkeypatch) -> None:
    study = lab.study()
    for k, token in enumerate(lab.invite(study, 12)):  # two labels per item
        counter = iter(range(100))
        lab.finish(token, lambda text, k=k, c=counter: truth_of(text) ^ (next(c) % (k + 2) == 0))
    with lab.Sessions() as s:
        frame = labels_frame(s, get_study(s, study), include_training=False)
    table = agreement_table(frame, n_boot=0)
    assert set(table["condition"]) == {"assisted", "unassisted"}
    assert (table["n_items"] == 12).all() and table["kappa"].notna().all()
    page = researcher.get(f"/dashboard/{study}").text
    section = page.split('id="agreement"')[1].split("</table>")[0]
    for r in table.to_dict("records"):
        cells = rf"<td>{r['condition']}</td><td>{r['label']}</td><td>{r['n_items']}</td>"
        row = re.search(cells + r".*?</tr>", section)
        assert row is not None, cells
        assert f"<td>{fmt(r['kappa'], 3)} [" in row.group(0)
        assert f"<td>{fmt(r['alpha'], 3)} [" in row.group(0)
    monkeypatch.setenv("SANDWICH_DB", lab.url)
    capsys.readouterr()
    assert main(["study", "status", study]) == 0
    out = capsys.readouterr().out
    assert "agreement (main items" in out and "Fleiss kappa" in out
    first = table.iloc[0]
    assert f"{fmt(first['kappa'], 3)} [" in out


def test_observed_agreement_ci_does_not_collapse_at_the_ceiling() -> None:
    """30 items on which all 3 raters agree: every bootstrap replicate is 1, so a
    percentile interval is [1, 1]; the Wilson interval with N items is
    [N / (N + t^2), 1] (t quantile, N - 1 df)."""
    counts = np.array([[3.0, 0.0]] * 20 + [[0.0, 3.0]] * 10)
    (row, *_) = condition_agreement(counts, "c", ["true", "false"], n_boot=200, seed=0)
    t = stats.t.ppf(0.975, 29)
    assert row["agreement"] == 1.0
    assert row["agreement_low"] == pytest.approx(30 / (30 + t**2))
    assert row["agreement_high"] == 1.0


def test_mean_share_interval_of_zero_one_values_is_wilsons() -> None:
    """For 0/1 shares the effective number of items is N (up to N / (N - 1)),
    so with many items the interval is scipy's Wilson interval of k of N."""
    shares = np.r_[np.ones(3000), np.zeros(1000)]
    ours = mean_share_interval(shares)
    wilson = stats.binomtest(3000, 4000).proportion_ci(0.95, method="wilson")
    assert ours.low == pytest.approx(wilson.low, abs=1e-4)
    assert ours.high == pytest.approx(wilson.high, abs=1e-4)


def test_mean_share_interval_rejects_shares_outside_0_1() -> None:
    with pytest.raises(ValueError, match=r"shares must be .* in \[0, 1\]"):
        mean_share_interval(np.array([0.5, 1.2]))
    assert np.isnan(mean_share_interval(np.array([0.5])).low)  # one item: no interval
