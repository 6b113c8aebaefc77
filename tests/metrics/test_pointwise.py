from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from sandwich.metrics import (
    accuracy,
    agreement,
    agreement_on_errors,
    auroc,
    brier,
    ece,
    pgr,
    small_test_warning,
)

probs = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def labelled(draw: st.DrawFn, min_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_size, 60))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    p = np.array(draw(st.lists(probs, min_size=n, max_size=n)))
    return y, p


def test_accuracy_by_hand() -> None:
    assert accuracy([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.6]) == 0.5
    # a tie at the threshold is a negative prediction
    assert accuracy([0], [0.5]) == 1.0
    assert accuracy([1, 1], [0.3, 0.7], threshold=0.2) == 1.0


def test_perfect_predictions() -> None:
    y = np.array([0, 1, 1, 0, 1])
    assert accuracy(y, y.astype(float)) == 1.0
    assert ece(y, y.astype(float)) == 0.0
    assert brier(y, y.astype(float)) == 0.0
    assert auroc(y, y.astype(float)) == 1.0


def test_ece_by_hand() -> None:
    # confidences 0.9, 0.9 (one right, one wrong) in one bin; 0.7 (right) in another
    y = [1, 0, 1]
    p = [0.9, 0.9, 0.3]  # third: predicted 0 with confidence 0.7, wrong
    # bin (0.8,0.9]: acc 0.5, conf 0.9 -> 2/3 * 0.4; bin (0.6,0.7]: acc 0, conf 0.7 -> 1/3 * 0.7
    assert ece(y, p) == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.7)


@settings(max_examples=60, deadline=None)
@given(labelled(min_size=2))
def test_auroc_matches_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = data
    if len(set(y.tolist())) < 2:
        assert math.isnan(auroc(y, p))
    else:
        assert auroc(y, p) == pytest.approx(roc_auc_score(y, p))


@settings(max_examples=60, deadline=None)
@given(labelled(), st.randoms(use_true_random=False))
def test_metrics_invariant_to_item_order(data: tuple[np.ndarray, np.ndarray], rnd) -> None:
    y, p = data
    perm = np.array(rnd.sample(range(len(y)), len(y)))
    q = np.clip(1 - p + 0.1, 0, 1)
    for f in (accuracy, brier, ece):
        assert f(y, p) == pytest.approx(f(y[perm], p[perm]))
    a, b = auroc(y, p), auroc(y[perm], p[perm])
    assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)
    assert agreement(p, q) == pytest.approx(agreement(p[perm], q[perm]))
    e1, e2 = agreement_on_errors(y, q, p), agreement_on_errors(y[perm], q[perm], p[perm])
    assert (e1 is None and e2 is None) or e1 == pytest.approx(e2)


@settings(max_examples=60, deadline=None)
@given(labelled())
def test_ranges(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = data
    assert 0.0 <= accuracy(y, p) <= 1.0
    assert 0.0 <= ece(y, p) <= 1.0
    assert 0.0 <= brier(y, p) <= 1.0


def test_agreement_and_errors() -> None:
    y = [1, 1, 0, 0]
    sup = [0.8, 0.2, 0.9, 0.1]  # wrong on items 1 and 2
    stu = [0.7, 0.4, 0.1, 0.3]  # agrees with sup on item 1, not on item 2
    assert agreement(stu, sup) == 0.75
    assert agreement_on_errors(y, stu, sup) == 0.5
    assert agreement_on_errors([1, 0], [0.2, 0.8], [0.9, 0.1]) is None


def test_auroc_single_class_is_nan() -> None:
    assert math.isnan(auroc([1, 1, 1], [0.2, 0.5, 0.9]))


def test_pgr_values() -> None:
    assert pgr(0.6, 0.6, 0.9) == 0.0
    assert pgr(0.6, 0.9, 0.9) == 1.0
    assert pgr(0.6, 0.75, 0.9) == pytest.approx(0.5)
    assert math.isnan(pgr(0.7, 0.8, 0.7))


@settings(max_examples=100, deadline=None)
@given(probs, probs, probs)
def test_pgr_exact_endpoints(weak: float, student: float, ceiling: float) -> None:
    if ceiling != weak:
        assert pgr(weak, weak, ceiling) == 0.0
        assert pgr(weak, ceiling, ceiling) == 1.0


@pytest.mark.parametrize("f", [accuracy, brier, ece, auroc])
def test_empty_input_raises(f) -> None:
    with pytest.raises(ValueError, match="empty"):
        f([], [])


def test_mismatched_lengths_name_the_arrays() -> None:
    with pytest.raises(ValueError, match=r"y_true=3, p=2"):
        accuracy([1, 0, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match=r"p_student=2"):
        agreement_on_errors([1, 0, 1], [0.2, 0.3], [0.1, 0.2, 0.3])


def test_bad_values_raise() -> None:
    with pytest.raises(ValueError, match="0/1"):
        accuracy([2, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        accuracy([1, 0], [1.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        brier([1, 0], [float("nan"), 0.2])
    with pytest.raises(ValueError, match="1-d"):
        accuracy([[1, 0]], [[0.1, 0.2]])


def test_small_test_warning() -> None:
    assert small_test_warning(400) is None
    msg = small_test_warning(100)
    assert msg is not None and "100 test items" in msg
    assert small_test_warning(150, min_n=100) is None
