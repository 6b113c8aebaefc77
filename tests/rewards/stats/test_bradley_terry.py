"""The Bradley-Terry head recovers a planted reward direction from (soft or hard) preferences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from sandwich.rewards.bradley_terry import BradleyTerryHead

DIM = 16


def _planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features of n pairs with anisotropic scales and offsets, the true reward
    direction ``w`` and the true P(a preferred) = sigmoid(w . (f_a - f_b))."""
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(99).standard_normal(DIM)
    w *= 2.0 / np.linalg.norm(w)
    scales = np.linspace(0.5, 3.0, DIM)
    fa = rng.standard_normal((n, DIM)) * scales + 5.0
    fb = rng.standard_normal((n, DIM)) * scales + 5.0
    return fa, fb, w / scales**2, expit((fa - fb) @ (w / scales**2))


def _cosine(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def _held_out_accuracy(head: BradleyTerryHead, seed: int) -> tuple[float, float]:
    """(the head's accuracy, the Bayes rate) against preferences drawn from the truth."""
    fa, fb, _, p = _planted(20000, seed)
    drawn = np.random.default_rng(seed + 1).random(len(p)) < p
    head_says_a = head.prob(fa, fb) > 0.5
    bayes_says_a = p > 0.5
    return float(np.mean(head_says_a == drawn)), float(np.mean(bayes_says_a == drawn))


@pytest.mark.parametrize("labels", ["hard", "soft"])
def test_recovers_the_planted_direction_and_the_bayes_rate(labels: str) -> None:
    fa, fb, w, p = _planted(3000, seed=0)
    pref = (np.random.default_rng(1).random(len(p)) < p).astype(float) if labels == "hard" else p
    head = BradleyTerryHead(l2=1.0).fit(fa, fb, pref)
    assert _cosine(head.direction_, w) > 0.9
    acc, bayes = _held_out_accuracy(head, seed=2)
    assert bayes - 0.015 <= acc <= bayes + 0.01, (acc, bayes)


def test_soft_labels_equal_duplicated_hard_labels() -> None:
    """A soft label p is the same fit as the pair labelled a with weight p and b with 1 - p."""
    fa, fb, _, p = _planted(300, seed=3)
    soft = BradleyTerryHead().fit(fa, fb, p)
    hard = BradleyTerryHead().fit(
        np.concatenate([fa, fa]),
        np.concatenate([fb, fb]),
        np.concatenate([np.ones(len(p)), np.zeros(len(p))]),
        weight=np.concatenate([p, 1 - p]),
    )
    np.testing.assert_allclose(soft.coef_, hard.coef_, rtol=1e-4, atol=1e-6)


def test_is_symmetric_in_the_order_of_the_pair() -> None:
    fa, fb, _, p = _planted(400, seed=4)
    head = BradleyTerryHead().fit(fa, fb, p)
    swapped = BradleyTerryHead().fit(fb, fa, 1 - p)
    np.testing.assert_allclose(head.coef_, swapped.coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(head.prob(fa, fb), 1 - head.prob(fb, fa), atol=1e-12)


def test_all_ties_give_a_flat_reward() -> None:
    fa, fb, _, _ = _planted(200, seed=5)
    head = BradleyTerryHead().fit(fa, fb, np.full(200, 0.5))
    np.testing.assert_allclose(head.coef_, 0.0, atol=1e-6)
    np.testing.assert_allclose(head.prob(fa, fb), 0.5, atol=1e-6)


def test_reward_is_invariant_to_feature_scale() -> None:
    """Standardisation: rescaling a feature does not change the fitted rewards."""
    fa, fb, _, p = _planted(500, seed=6)
    k = np.ones(DIM)
    k[0] = 1000.0
    head = BradleyTerryHead().fit(fa, fb, p)
    scaled = BradleyTerryHead().fit(fa * k, fb * k, p)
    np.testing.assert_allclose(head.reward(fa), scaled.reward(fa * k), rtol=1e-4, atol=1e-6)


def test_stronger_l2_shrinks_the_reward() -> None:
    fa, fb, _, p = _planted(500, seed=7)
    loose = np.linalg.norm(BradleyTerryHead(l2=0.1).fit(fa, fb, p).coef_)
    tight = np.linalg.norm(BradleyTerryHead(l2=1000.0).fit(fa, fb, p).coef_)
    assert tight < 0.5 * loose


def test_zero_weights_drop_comparisons() -> None:
    fa, fb, _, p = _planted(400, seed=8)
    w = np.ones(400)
    w[200:] = 0.0
    head = BradleyTerryHead().fit(fa, fb, p, weight=w)
    # the standardisation still sees all rows: compare in the same standardised space
    kept = BradleyTerryHead().fit(fa[:200], fb[:200], p[:200])
    assert _cosine(head.direction_, kept.direction_) > 0.999


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"feats_a": np.zeros(5)}, "feats_a must be 2-d"),
        ({"feats_b": np.zeros((5, 3))}, "feats_b has 3 features"),
        ({"feats_b": np.zeros((4, DIM))}, "feats_a has 5 rows but feats_b has 4"),
        ({"pref": np.zeros(4)}, r"pref must have shape \(5,\)"),
        (
            {"pref": np.array([0, 1, 0.5, 1.2, 0])},
            r"pref must be a probability.*1.2 at comparison 3",
        ),
        ({"pref": np.array([0, 1, np.nan, 1, 0])}, "pref is not finite at comparison 2"),
        ({"weight": -np.ones(5)}, "weight must be non-negative"),
        ({"feats_a": np.full((5, DIM), np.inf)}, "feats_a has a non-finite value in row 0"),
        ({"feats_a": np.zeros((0, DIM)), "feats_b": np.zeros((0, DIM))}, "feats_a is empty"),
    ],
)
def test_bad_input_raises_naming_it(kwargs: dict[str, np.ndarray], match: str) -> None:
    args = {"feats_a": np.ones((5, DIM)), "feats_b": np.zeros((5, DIM)), "pref": np.ones(5)}
    with pytest.raises(ValueError, match=match):
        BradleyTerryHead().fit(**{**args, **kwargs})


def test_use_before_fit_and_wrong_width_raise() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        BradleyTerryHead().reward(np.zeros((2, DIM)))
    head = BradleyTerryHead().fit(np.ones((3, DIM)), np.zeros((3, DIM)), np.ones(3))
    with pytest.raises(ValueError, match="feats has 2 features, the head was fitted on 16"):
        head.reward(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="l2 must be > 0"):
        BradleyTerryHead(l2=0).fit(np.ones((3, DIM)), np.zeros((3, DIM)), np.ones(3))
