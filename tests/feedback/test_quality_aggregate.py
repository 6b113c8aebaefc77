"""Aggregation: hand-computed small cases and a planted good/bad rater split."""

from __future__ import annotations

import numpy as np
import pytest

from sandwich.errors import ConfigError, UnknownNameError
from sandwich.feedback.analysis.label_aggregation import AGGREGATORS, aggregate

# x: 2 of 3 say true; y: 1 of 3; z: a 1-1 tie
TOY = [
    {"item_id": i, "rater_id": r, "answer": a, "confidence": c}
    for i, r, a, c in [
        ("x", "a", True, 0.9),
        ("x", "b", True, 0.6),
        ("x", "c", False, 0.7),
        ("y", "a", False, 1.0),
        ("y", "b", False, 0.8),
        ("y", "c", True, 0.5),
        ("z", "a", True, 0.8),
        ("z", "b", False, 0.6),
    ]
]


def test_majority_vote_by_hand_and_tie_is_half_and_false() -> None:
    agg = aggregate(TOY, "majority-vote")
    assert agg.p_true.to_dict() == pytest.approx({"x": 2 / 3, "y": 1 / 3, "z": 0.5})
    assert agg.labels.to_dict() == {"x": True, "y": False, "z": False}  # tie -> False
    assert agg.n_labels.to_dict() == {"x": 3, "y": 3, "z": 2}
    # c disagrees with the majority on x and y
    assert agg.reliability["c"] == 0.0


def test_mean_confidence_by_hand() -> None:
    agg = aggregate(TOY, "mean-confidence")
    # x: (0.9 + 0.6 + (1 - 0.7)) / 3; y: (0 + 0.2 + 0.5) / 3; z: (0.8 + 0.4) / 2
    expected = {"x": 1.8 / 3, "y": 0.7 / 3, "z": 0.6}
    assert agg.p_true.to_dict() == pytest.approx(expected)


def _planted(n_items: int, skills: dict[str, float], per_item: int, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    truth = rng.random(n_items) < 0.5
    raters = sorted(skills)
    records = []
    for i in range(n_items):
        for r in rng.choice(raters, size=per_item, replace=False):
            right = rng.random() < skills[r]
            records.append(
                {"item_id": f"i{i:04d}", "rater_id": r, "answer": bool(truth[i] == right)}
            )
    return records, {f"i{i:04d}": bool(t) for i, t in enumerate(truth)}


SKILLS = {**{f"good{k}": 0.85 for k in range(5)}, **{f"spam{k}": 0.5 for k in range(4)}}


@pytest.mark.parametrize("method", ["dawid-skene", "glad"])
def test_model_based_methods_recover_a_planted_good_bad_split(method: str) -> None:
    n = 400 if method == "dawid-skene" else 80  # GLAD in crowd-kit is slow (pandas M-step)
    records, truth = _planted(n, SKILLS, per_item=5)
    agg = aggregate(records, method)
    rel = agg.reliability
    good = rel[[r for r in rel.index if r.startswith("good")]]
    spam = rel[[r for r in rel.index if r.startswith("spam")]]
    assert good.min() > spam.max(), rel.to_dict()
    assert abs(good.mean() - 0.85) < 0.06 and abs(spam.mean() - 0.5) < 0.12, rel.to_dict()
    y = np.array([truth[i] for i in agg.p_true.index])
    acc = float(np.mean(agg.labels.to_numpy() == y))
    mv = aggregate(records, "majority-vote")
    mv_acc = float(np.mean(mv.labels.to_numpy() == y))
    assert acc >= mv_acc, (acc, mv_acc)  # weighting raters by reliability does not hurt
    assert acc > 0.85


def test_unanimous_labels_give_certain_aggregates_for_every_method() -> None:
    records = [
        {"item_id": i, "rater_id": r, "answer": i.startswith("t")}
        for i in ("t1", "t2", "f1", "f2")
        for r in ("a", "b", "c")
    ]
    for method in AGGREGATORS.names():
        agg = aggregate(records, method)
        assert agg.labels.to_dict() == {"f1": False, "f2": False, "t1": True, "t2": True}, method
        assert (agg.p_true[["t1", "t2"]] > 0.9).all() and (agg.p_true[["f1", "f2"]] < 0.1).all()


def test_condition_filter_and_errors() -> None:
    records = [
        {"item_id": "x", "rater_id": "a", "answer": True, "condition": "assisted"},
        {"item_id": "x", "rater_id": "b", "answer": False, "condition": "none"},
    ]
    assert aggregate(records, "majority-vote", condition="assisted").p_true["x"] == 1.0
    with pytest.raises(
        ConfigError, match=r"no labels in condition 'debate' \(present: assisted, none\)"
    ):
        aggregate(records, "majority-vote", condition="debate")
    with pytest.raises(UnknownNameError, match="Did you mean 'dawid-skene'"):
        aggregate(records, "dawid-skeen")
    with pytest.raises(ConfigError, match="no labels to aggregate"):
        aggregate([{**records[0], "is_training": True}], "majority-vote")


def test_order_of_records_does_not_matter() -> None:
    records, _ = _planted(60, SKILLS, per_item=4, seed=3)
    a = aggregate(records, "dawid-skene")
    b = aggregate(list(reversed(records)), "dawid-skene")
    assert np.allclose(a.p_true.to_numpy(), b.p_true.to_numpy(), atol=1e-6)
    assert list(a.to_frame().columns) == ["item_id", "p_true", "label", "n_labels"]
