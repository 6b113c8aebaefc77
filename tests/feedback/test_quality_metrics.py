"""Quality metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from sandwich.errors import ConfigError
from sandwich.feedback.analysis.quality import (
    condition_summary,
    human_sandwich,
    krippendorff_alpha,
    rater_quality,
)


def two_raters(a: list[int], b: list[int], extra: list[dict] | None = None) -> list[dict]:
    out = [
        {"item_id": f"i{k}", "rater_id": r, "answer": bool(v)}
        for r, vals in (("A", a), ("B", b))
        for k, v in enumerate(vals)
    ]
    return out + (extra or [])


def test_alpha_matches_a_hand_computed_value() -> None:
    # A: 1 1 0 0, B: 1 0 0 0. Coincidences: o00 = 4, o01 = o10 = 1, o11 = 2; n = 8,
    # n0 = 5, n1 = 3. D_o = 2/8, D_e = 2 * 5 * 3 / (8 * 7) = 30/56; alpha = 1 - D_o/D_e = 8/15.
    labels = two_raters([1, 1, 0, 0], [1, 0, 0, 0])
    assert krippendorff_alpha(labels) == pytest.approx(8 / 15)
    # an item only one rater labelled carries no pairing information: alpha unchanged
    lone = [{"item_id": "i9", "rater_id": "C", "answer": True}]
    assert krippendorff_alpha(two_raters([1, 1, 0, 0], [1, 0, 0, 0], lone)) == pytest.approx(8 / 15)


def test_alpha_perfect_agreement_chance_and_undefined() -> None:
    assert krippendorff_alpha(two_raters([1, 0, 1, 0], [1, 0, 1, 0])) == pytest.approx(1.0)
    # systematic disagreement is below chance
    assert krippendorff_alpha(two_raters([1, 0, 1, 0], [0, 1, 0, 1])) < 0
    assert math.isnan(krippendorff_alpha(two_raters([1, 1], [1, 1])))  # no variation
    single = [{"item_id": "i1", "rater_id": "A", "answer": True}]
    assert math.isnan(krippendorff_alpha(single))  # no item with two labels


def test_alpha_per_condition() -> None:
    labels = [{**r, "condition": "none"} for r in two_raters([1, 1, 0, 0], [1, 0, 0, 0])] + [
        {**r, "condition": "assisted", "rater_id": r["rater_id"] + "2"}
        for r in two_raters([1, 0, 1, 0], [1, 0, 1, 0])
    ]
    assert krippendorff_alpha(labels, condition="none") == pytest.approx(8 / 15)
    assert krippendorff_alpha(labels, condition="assisted") == pytest.approx(1.0)
    summary = condition_summary(labels).set_index("condition")
    assert summary.loc["none", "alpha"] == pytest.approx(8 / 15)
    assert summary.loc["assisted", "n_raters"] == 2 and summary.loc["none", "n_labels"] == 8


def test_rater_gold_accuracy_by_hand() -> None:
    truth = {"g1": True, "g2": False, "g3": True, "i1": True}
    labels = [
        {"item_id": "g1", "rater_id": "a", "answer": True, "is_gold": True},
        {"item_id": "g2", "rater_id": "a", "answer": True, "is_gold": True},
        {"item_id": "g3", "rater_id": "a", "answer": True, "is_gold": True},
        {"item_id": "i1", "rater_id": "a", "answer": False, "seconds": 3.0},
        {"item_id": "g1", "rater_id": "b", "answer": True, "is_gold": True},
        {"item_id": "i1", "rater_id": "b", "answer": True, "confidence": 0.7},
        {"item_id": "i1", "rater_id": "c", "answer": True},
    ]
    q = rater_quality(labels, truth=truth, pass_threshold=0.7).set_index("rater_id")
    assert q.loc["a", "n_gold"] == 3 and q.loc["a", "gold_correct"] == 2
    assert q.loc["a", "gold_accuracy"] == pytest.approx(2 / 3)
    assert q.loc["a", "passed"] is False  # 0.667 < 0.7
    assert q.loc["a", "accuracy"] == pytest.approx(2 / 4)
    assert q.loc["b", "gold_accuracy"] == 1.0 and q.loc["b", "passed"] is True
    assert math.isnan(q.loc["c", "gold_accuracy"]) and q.loc["c", "passed"] is None
    assert q.loc["b", "mean_confidence"] == pytest.approx(0.85)
    assert (
        rater_quality(labels, truth=truth, pass_threshold=0.6)
        .set_index("rater_id")
        .loc["a", "passed"]
    )


def sandwich_labels(n_un_right: int, n_as_right: int, n: int = 10) -> list[dict]:
    """n items, true answers; 'none' rater right on the first n_un_right, 'helped' on n_as_right."""
    out = []
    for k in range(n):
        out.append(
            {
                "item_id": f"i{k}",
                "rater_id": "u",
                "condition": "none",
                "answer": k < n_un_right,
                "truth": True,
            }
        )
        out.append(
            {
                "item_id": f"i{k}",
                "rater_id": "h",
                "condition": "helped",
                "answer": k < n_as_right,
                "truth": True,
            }
        )
    return out


def test_human_sandwich_by_hand() -> None:
    res = human_sandwich(sandwich_labels(6, 8), assisted="helped", unassisted="none", n_boot=500)
    # unassisted 0.6, assisted 0.8, expert (the answer key) 1.0: (0.8 - 0.6) / (1 - 0.6) = 0.5
    assert res.unassisted_acc == pytest.approx(0.6) and res.assisted_acc == pytest.approx(0.8)
    assert res.expert_acc == 1.0 and res.gap == pytest.approx(0.4)
    assert res.gap_closed == pytest.approx(0.5)
    assert res.gap_closed_ci.contains(0.5) and res.assisted_acc_ci.contains(0.8)
    assert res.n_items == 10 and res.n_labels == {"helped": 10, "none": 10}
    assert not res.small_gap


def test_human_sandwich_with_expert_condition_and_gold_items_left_out() -> None:
    labels = sandwich_labels(6, 8) + [
        {"item_id": f"i{k}", "rater_id": "e", "condition": "expert", "answer": k < 9, "truth": True}
        for k in range(10)
    ]
    # gold checks are not scored: a wrong gold answer changes nothing
    labels.append(
        {
            "item_id": "g",
            "rater_id": "u",
            "condition": "none",
            "answer": False,
            "truth": True,
            "is_gold": True,
        }
    )
    res = human_sandwich(labels, assisted="helped", unassisted="none", expert="expert", n_boot=300)
    assert res.expert_acc == pytest.approx(0.9)
    assert res.gap_closed == pytest.approx((0.8 - 0.6) / (0.9 - 0.6))


def test_human_sandwich_endpoints_and_small_gap() -> None:
    assert human_sandwich(sandwich_labels(6, 6), "helped", "none", n_boot=200).gap_closed == 0
    assert human_sandwich(sandwich_labels(6, 10), "helped", "none", n_boot=200).gap_closed == 1
    near = human_sandwich(sandwich_labels(10, 10), "helped", "none", n_boot=200)
    assert near.small_gap and math.isnan(near.gap_closed)  # no gap to close: flagged, not hidden


def test_human_sandwich_errors() -> None:
    labels = sandwich_labels(6, 8)
    with pytest.raises(ConfigError, match=r"no labels in condition 'debate'"):
        human_sandwich(labels, assisted="debate", unassisted="none")
    no_truth = [{k: v for k, v in r.items() if k != "truth"} for r in labels]
    with pytest.raises(ConfigError, match=r"10 item\(s\) have no expert answer"):
        human_sandwich(no_truth, assisted="helped", unassisted="none")
    truth = {f"i{k}": True for k in range(10)}
    res = human_sandwich(no_truth, assisted="helped", unassisted="none", truth=truth, n_boot=200)
    assert res.gap_closed == pytest.approx(0.5)
