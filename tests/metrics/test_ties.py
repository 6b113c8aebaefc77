"""One tie convention, checked in every place that turns P(true) into a hard label.

P(true) = 0.5 is a tie, and a hard label breaks it as *false*: positive iff
P(true) > 0.5 (scikit-learn's ``predict``). So an item with P = 0.5 counts as
right when its gold label is false and wrong when it is true, in accuracy,
agreement, agreement on errors, ECE, PGR, paired differences, the supervisor's
label accuracy on B and aggregated human labels. The one exception is judge
accuracy, which scores P(right answer) of a two-answer choice (no side is
"negative"): a tie scores 1/2, the expected score of a coin flip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sandwich.feedback.analysis.label_aggregation import aggregate
from sandwich.metrics import (
    accuracy,
    agreement,
    agreement_on_errors,
    bootstrap_accuracies,
    ece,
    judge_scores,
    pgr_with_ci,
)
from sandwich.metrics._validate import hard
from sandwich.metrics.bootstrap import resample_indices
from sandwich.metrics.paired import paired_difference

TIE = 0.5
Y = np.array([0, 1, 1, 0, 1])  # gold: 2 false, 3 true
TIES = np.full(5, TIE)


def test_hard_label_of_a_tie_is_false_and_just_above_is_true() -> None:
    assert hard(np.array([TIE, np.nextafter(TIE, 1.0), np.nextafter(TIE, 0.0)])).tolist() == [
        False,
        True,
        False,
    ]


def test_accuracy_counts_a_tie_as_false() -> None:
    assert accuracy(Y, TIES) == pytest.approx(2 / 5)  # right on the two false items only
    idx = resample_indices(5, 50, seed=0)
    assert bootstrap_accuracies(Y, {"p": TIES}, n_boot=50, seed=0).ravel() == pytest.approx(
        (Y == 0)[idx].mean(axis=1)
    )


def test_agreement_and_agreement_on_errors_harden_ties_to_false() -> None:
    assert agreement([TIE, TIE], [0.0, 1.0]) == 0.5  # agrees with the false one only
    # supervisor at 0.5 on a true item is an error (it says false); a student at 0.3 agrees
    assert agreement_on_errors([1, 0], [0.3, 0.1], [TIE, 0.0]) == 1.0


def test_ece_takes_a_tie_as_a_false_prediction_with_confidence_one_half() -> None:
    assert ece([0], [TIE]) == pytest.approx(0.5)  # right, confidence 0.5: |1 - 0.5|
    assert ece([1], [TIE]) == pytest.approx(0.5)  # wrong, confidence 0.5: |0 - 0.5|


def test_pgr_and_paired_difference_use_the_same_hard_labels() -> None:
    y = np.array([0, 1] * 50)
    m = pgr_with_ci(y, np.full(100, TIE), y * 0.9 + 0.05, y.astype(float), n_boot=100)
    assert m.weak_acc == pytest.approx(0.5)  # the ties are right on the 50 false items
    d = paired_difference([(y, np.full(100, TIE), y.astype(float))], n_boot=100)
    assert d.method_acc == pytest.approx(0.5) and d.diff == pytest.approx(-0.5)


def test_human_labels_harden_a_tie_to_false_in_labels_and_reliability() -> None:
    # item z: one rater says true, one false (a tie); item w: both say true
    labels = [
        {"item_id": "z", "rater_id": "t", "answer": True, "confidence": 0.8},
        {"item_id": "z", "rater_id": "f", "answer": False, "confidence": 0.8},
        {"item_id": "w", "rater_id": "t", "answer": True, "confidence": 0.8},
        {"item_id": "w", "rater_id": "f", "answer": True, "confidence": 0.8},
    ]
    for method in ("majority-vote", "mean-confidence"):
        agg = aggregate(labels, method)
        assert agg.p_true["z"] == pytest.approx(TIE)
        assert agg.labels.to_dict() == {"w": True, "z": False}, method
        # reliability = agreement with the hard label: "f" agrees on z (false) and w
        assert agg.reliability.to_dict() == pytest.approx({"f": 1.0, "t": 0.5}), method


def test_a_rater_at_confidence_one_half_gives_a_false_label() -> None:
    agg = aggregate(
        [{"item_id": "x", "rater_id": "r", "answer": True, "confidence": 0.5}], "mean-confidence"
    )
    assert agg.p_true["x"] == TIE and not agg.labels["x"]


def test_judge_accuracy_is_the_exception_a_tie_scores_one_half() -> None:
    assert judge_scores([TIE, 0.9, 0.1]).tolist() == [0.5, 1.0, 0.0]


def test_supervisor_label_accuracy_on_b_counts_ties_as_false(tmp_path: Path) -> None:
    """A supervisor whose every label is exactly 0.5: its accuracy on B and on T is the
    share of false items (a cell once counted ties on B as true, unlike on T). The task
    is 70% true so the two conventions give different numbers."""
    import json

    from sandwich.runs import parse_config, run
    from sandwich.store import ArtifactStore

    path = tmp_path / "sums.jsonl"
    rows = [{"text": f"{i} + 1 = {i + 1 if i % 10 < 7 else i + 2}", "label": i % 10 < 7}
            for i in range(200)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = parse_config(
        {
            "name": "ties",
            "tasks": [{"path": str(path)}],
            "weak": [
                {
                    "name": "nonexpert",
                    "params": {"knowledge": 0.5, "confidence": 0.5, "guess_confidence": 0.5},
                }
            ],
            "strong": ["fake-strong"],
            "elicitors": ["probe"],
            "seeds": [0],
            "bootstrap": {"n_boot": 100, "min_test": 1},
        }
    )
    out = run(config, runs_root=tmp_path / "r", store=ArtifactStore(tmp_path / "s"), progress=False)
    (o,) = out.outcomes
    assert np.all(o.p_weak == TIE)
    assert o.result.weak_acc == pytest.approx(float(np.mean(o.y_test == 0)))
    from sandwich.runs.context import RunContext

    ctx = RunContext(config, ArtifactStore(tmp_path / "s"), progress=False)
    splits = ctx.splits(config.tasks[0], 0)
    y_b = ctx.task(config.tasks[0]).labels(splits.train_strong)
    assert y_b.mean() == pytest.approx(0.7, abs=0.02)
    assert o.result.weak_label_acc_train_strong == pytest.approx(float(np.mean(y_b == 0)))
