"""Judge metrics: properties (CI contains the estimate, order invariance, fixed points)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandwich.metrics import gap_closed, judge_accuracy, judge_scores, split_accuracy
from sandwich.metrics.judge import paired_split

probs = st.lists(st.floats(0.0, 1.0), min_size=2, max_size=60)


def test_scores_count_ties_as_half() -> None:
    assert judge_scores([0.9, 0.1, 0.5]).tolist() == [1.0, 0.0, 0.5]


@given(probs)
@settings(max_examples=40, deadline=None)
def test_ci_contains_estimate_and_order_does_not_matter(p: list[float]) -> None:
    a = judge_accuracy(p, n_boot=200, seed=1)
    assert a.ci.low - 1e-9 <= a.accuracy <= a.ci.high + 1e-9
    b = judge_accuracy(p[::-1], n_boot=200, seed=1)
    assert a.accuracy == b.accuracy and a.brier == pytest.approx(b.brier)


@given(probs)
@settings(max_examples=40, deadline=None)
def test_gap_closed_fixed_points(p: list[float]) -> None:
    s = judge_scores(p)
    if s.mean() < 1.0:
        assert gap_closed(p, p, n_boot=100).closed == pytest.approx(0.0)  # naive itself: 0
        assert gap_closed(np.ones(len(p)), p, n_boot=100).closed == pytest.approx(1.0)  # expert: 1


def test_gap_closed_value_and_pairing() -> None:
    naive = [0.2, 0.8, 0.3, 0.4]  # score 0.25
    proto = [0.9, 0.9, 0.2, 0.7]  # score 0.75
    g = gap_closed(proto, naive, n_boot=500)
    assert (g.naive, g.protocol, g.expert) == (0.25, 0.75, 1.0)
    assert g.closed == pytest.approx(0.5 / 0.75) and not g.small_gap
    assert g.ci.contains(g.closed)
    with pytest.raises(ValueError, match="pair them"):
        gap_closed(proto, naive[:3])


def test_small_gap_is_flagged_not_dropped() -> None:
    g = gap_closed([1.0] * 50, [1.0] * 49 + [0.0], n_boot=100)
    assert g.small_gap and g.closed == pytest.approx(1.0)


def test_calibration_of_a_perfectly_confident_right_judge() -> None:
    a = judge_accuracy([1.0] * 10, n_boot=100)
    assert (a.accuracy, a.ece, a.brier) == (1.0, 0.0, 0.0)
    b = judge_accuracy([0.7] * 10, n_boot=100)
    assert b.ece == pytest.approx(0.3) and b.brier == pytest.approx(0.09)


def test_split_by_consultant_side() -> None:
    s = split_accuracy([0.9, 0.8, 0.1, 0.6], [True, True, False, False], n_boot=100)
    assert s.right is not None and s.wrong is not None
    assert (s.right.accuracy, s.right.n, s.wrong.accuracy, s.wrong.n) == (1.0, 2, 0.5, 2)
    assert split_accuracy([0.9], [True], n_boot=100).wrong is None


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        judge_scores([])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        judge_scores([1.2])


def test_small_gap_comes_from_the_gap_interval_not_a_point_threshold() -> None:
    # 10 items, naive right on 9: gap 0.1 (above the old 0.05 cut) but its CI includes 0
    few = gap_closed([1.0] * 10, [1.0] * 9 + [0.0], n_boot=1000, seed=0)
    assert few.gap == pytest.approx(0.1) and few.gap_ci.low == 0.0 and few.small_gap
    # 2000 items, naive right on 97%: gap 0.03 (below 0.05) with a CI clear of 0
    rng = np.random.default_rng(0)
    naive = np.where(rng.permutation(2000) < 60, 0.0, 1.0)
    many = gap_closed(np.ones(2000), naive, n_boot=1000, seed=0)
    assert many.gap == pytest.approx(0.03) and many.gap_ci.low > 0 and not many.small_gap
    assert many.gap_ci.contains(many.gap)


def test_gap_closed_interval_skips_resamples_without_a_gap() -> None:
    g = gap_closed([1.0] * 10, [1.0] * 9 + [0.0], n_boot=500, seed=1)
    assert np.isfinite(g.ci.low) and np.isfinite(g.ci.high)


def test_paired_split_of_an_always_a_judge() -> None:
    # P(right) when the right answer was shown first (A) and second (B)
    s = paired_split([1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], n_boot=200)
    assert (s.n, s.first.accuracy, s.second.accuracy, s.diff) == (4, 1.0, 0.0, 1.0)
    assert tuple(s.diff_ci) == (1.0, 1.0)
    u = paired_split([0.9, 0.2, 0.8, 0.4], [0.7, 0.3, 0.1, 0.6], n_boot=500)
    assert (u.first.accuracy, u.second.accuracy, u.diff) == (0.5, 0.5, 0.0)
    assert u.diff_ci.contains(0.0) and u.first.ci.contains(0.5)
    with pytest.raises(ValueError, match="pair them"):
        paired_split([0.9], [0.1, 0.2])
