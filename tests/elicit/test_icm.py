"""ICM (internal coherence maximisation) as a reporter, on synthetic contrast pairs with a
planted truth direction: it finds B's labels up to their sign without reading any, keeps
a statement and its negation opposite, is deterministic per seed, and rejects bad input."""

from __future__ import annotations

import numpy as np
import pytest

from sandwich.elicit import ELICITORS
from sandwich.elicit.reporters.icm import (
    ICMReporter,
    held_out_scores,
    link_scale,
    mates,
    temperature,
)
from sandwich.errors import ConfigError


def pairs(
    seed: int, n: int = 400, d: int = 40, strength: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X = hstack([pos, neg]), gold y, u): a statement part shared by both halves, plus
    +-u on the half that is right (strength 0: no truth in the features at all)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    y = rng.integers(0, 2, n).astype(np.float64)
    s = 2 * y - 1
    statement = rng.normal(size=(n, d)) * 2.0
    pos = statement + rng.normal(size=(n, d)) * 0.5 + np.outer(s, u) * strength
    neg = statement + rng.normal(size=(n, d)) * 0.5 - np.outer(s, u) * strength
    return np.hstack([pos, neg]), y, u


def accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p > 0.5) == (y > 0.5)))


def flip(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    wrong = np.random.default_rng([seed, 1]).random(len(y)) < share
    return np.where(wrong, 1.0 - y, y)


FAST = {"max_items": 64, "iterations": 800}


def fit(X: np.ndarray, y: np.ndarray, seed: int = 0, **params: object) -> ICMReporter:
    rep = ELICITORS.build("icm", **{**FAST, **params}).fit(X, y, random_state=seed)
    assert isinstance(rep, ICMReporter)
    return rep


def item_labels(rep: ICMReporter) -> np.ndarray:
    """ICM's label of each searched item (its ``pos`` claim's), -1 if unlabelled."""
    return rep.claim_labels_[: len(rep.items_)]


def test_icm_recovers_the_planted_labels_up_to_sign_without_reading_them() -> None:
    """The search reads no labels: its labels of the searched items match gold or its
    mirror image on nearly every item; the weak labels (30% wrong) only fix the sign."""
    X, y, _ = pairs(0)
    b, t = slice(0, 200), slice(200, None)
    rep = fit(X[b], flip(y[b], 0.3, seed=0), seed=0)
    found = item_labels(rep)
    assert (found >= 0).all()  # every searched item got a label
    gold = y[b][rep.items_]
    match = float(np.mean(found == gold))
    assert max(match, 1 - match) > 0.95, match  # up to sign
    assert accuracy(rep.predict_proba(X[t]), y[t]) > 0.95
    assert rep.supervision == "sign" and rep.needs_contrast and not rep.needs_gold


def test_icm_labels_of_unstructured_features_are_no_better_than_chance() -> None:
    """A control for the test above: with no truth in the features the same search finds
    labels that agree with gold about half the time, so the agreement there is earned."""
    X, y, _ = pairs(1, strength=0.0)
    rep = fit(X[:200], y[:200], seed=0)
    match = float(np.mean(item_labels(rep) == y[:200][rep.items_]))
    assert 0.3 < match < 0.7, match


@pytest.mark.parametrize("strength", [1.0, 0.0])
def test_a_statement_and_its_negation_always_get_opposite_labels(strength: float) -> None:
    """The pair constraint holds at the end of the search, with a truth direction to find
    and without one (where only the repair step keeps it), and the energy counts none."""
    X, y, _ = pairs(2, strength=strength)
    rep = fit(X[:150], y[:150], seed=3, alpha=1.0)
    m = len(rep.items_)
    pos_lab, neg_lab = rep.claim_labels_[:m], rep.claim_labels_[m:]
    both = (pos_lab >= 0) & (neg_lab >= 0)
    assert both.sum() >= 0.9 * m
    assert (pos_lab[both] != neg_lab[both]).all()
    assert rep.energy_ == pytest.approx(rep.energy_trace_[-1])
    assert rep.energy_ <= 0.0 and rep.energy_ >= rep.hparams.alpha * np.log(0.5) - 1e-9


def test_icm_is_deterministic_per_seed() -> None:
    X, y, _ = pairs(3, strength=0.0)  # no truth: the labels depend on the seed alone
    a, b = fit(X[:120], y[:120], seed=1), fit(X[:120], y[:120], seed=1)
    c = fit(X[:120], y[:120], seed=2)
    np.testing.assert_array_equal(a.claim_labels_, b.claim_labels_)
    np.testing.assert_array_equal(a.predict_proba(X[120:]), b.predict_proba(X[120:]))
    assert not np.array_equal(a.claim_labels_, c.claim_labels_)


def test_item_count_is_capped_by_a_seeded_subset() -> None:
    X, y, _ = pairs(4, n=300)
    rep = fit(X, y, seed=0, max_items=50)
    assert len(rep.items_) == 50 and len(rep.claim_labels_) == 100
    assert len(np.unique(rep.items_)) == 50 and rep.items_.max() < 300


def test_the_held_out_scores_are_those_of_probes_refit_without_the_claim_and_its_partner() -> None:
    """The closed form against explicit ridge refits: a claim whose partner is labelled is
    predicted without both, a claim whose partner is not without itself."""
    rng = np.random.default_rng(5)
    Z = rng.normal(size=(7, 4))
    K = Z @ Z.T + 1.0
    t = rng.choice([-1.0, 1.0], 7)
    ridge = 0.7
    M = np.linalg.inv(K + ridge * np.eye(7))
    partner = np.array([3, 4, 5, 0, 1, 2, 7, 6])  # claim 6's partner (7) is not labelled
    idx = np.arange(7)
    mate = mates(idx, partner)
    assert mate.tolist() == [3, 4, 5, 0, 1, 2, -1]
    f = held_out_scores(M, t, mate)
    for i in range(7):
        keep = [k for k in range(7) if k != i and k != mate[i]]
        a = np.linalg.solve(K[np.ix_(keep, keep)] + ridge * np.eye(len(keep)), t[keep])
        assert f[i] == pytest.approx(K[i, keep] @ a, abs=1e-10)


def test_the_link_scale_maximises_the_log_likelihood_and_is_never_negative() -> None:
    rng = np.random.default_rng(6)
    t = rng.choice([-1.0, 1.0], 200)
    f = t * 0.8 + rng.normal(size=200)
    c = link_scale(f, t)

    def loglik(x: float) -> float:
        return float(np.sum(-np.logaddexp(0.0, -x * t * f)))

    assert c > 0 and loglik(c) >= max(loglik(c * 0.9), loglik(c * 1.1))
    assert link_scale(-f, t) == 0.0  # scores that point the wrong way: no information


def test_the_temperature_follows_the_reference_log_schedule() -> None:
    assert temperature(0, 10.0, 0.01) == 10.0
    assert temperature(10, 10.0, 0.01) == pytest.approx(10.0 / (1 + 2 * np.log(11)))
    assert temperature(10**9, 10.0, 1.0) == 1.0


def test_the_sign_comes_from_the_weak_labels_or_flagged_gold() -> None:
    X, y, _ = pairs(7)
    b, t = slice(0, 200), slice(200, None)
    adversarial = 1.0 - y[b]  # a supervisor that is always wrong
    weak = fit(X[b], adversarial, seed=0)
    assert accuracy(weak.predict_proba(X[t]), y[t]) < 0.05  # its one bit came from them
    oracle = ELICITORS.build("icm", sign="oracle", **FAST)
    assert oracle.needs_gold and oracle.supervision == "none"


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"max_items": 1}, "max_items"),
        ({"iterations": 0}, "iterations"),
        ({"initial": 1}, "initial"),
        ({"t0": -1.0}, "t0"),
        ({"ridge": 0.0}, "ridge"),
        ({"predictor": "llm"}, "predictor"),
        ({"generator": "smollm2-135m"}, "generator"),
        ({"predictor": "in-context", "generator": {"backend": "openai"}}, "generator"),
        ({"sign": "gold"}, "sign"),
    ],
)
def test_bad_params_are_config_errors_naming_the_field(
    params: dict[str, object], where: str
) -> None:
    with pytest.raises(ConfigError, match=where):
        ELICITORS.build("icm", **params)


def test_too_few_items_for_the_initial_labels_say_so() -> None:
    X, y, _ = pairs(8, n=3)
    with pytest.raises(ValueError, match=r"initial=8.*6 claims"):
        fit(X, y)
    with pytest.raises(ValueError, match=r"\(n, 2d\)"):
        fit(X[:, :7], y)


def test_coherence_scores_a_labelling_as_the_search_does_and_gold_beats_noise() -> None:
    """``coherence`` (the diagnostic's U) of ICM's own final labels is the energy its search
    ended with; on planted features the gold labels are far more coherent than random ones."""
    X, y, _ = pairs(9)
    rep = fit(X[:200], y[:200], seed=0)
    found = item_labels(rep)
    assert (found >= 0).all()
    u, _ = rep.coherence(found.astype(float))
    assert u == pytest.approx(rep.energy_, abs=1e-9)
    u_gold, acc_gold = rep.coherence(y[:200][rep.items_])
    noise = np.random.default_rng(0).integers(0, 2, len(rep.items_)).astype(float)
    u_noise, acc_noise = rep.coherence(noise)
    assert u_gold > u_noise + 1 and acc_gold > 0.6 > acc_noise, (acc_gold, acc_noise)
    with pytest.raises(ValueError, match="one label per searched item"):
        rep.coherence(found[:3].astype(float))


def test_the_probe_search_finds_the_labels_it_found_before_the_predictor_was_pluggable() -> None:
    """A regression pin: the labels, accepted changes and final U of one search, as computed
    by the search before it took its predictor as an object (same seed, same labels)."""
    import hashlib

    X, y, _ = pairs(2, strength=0.5)
    rep = fit(X[:150], y[:150], seed=2, max_items=40, iterations=300)
    labels = rep.claim_labels_.astype(np.int8).tobytes()
    assert hashlib.sha256(labels).hexdigest()[:16] == "cc1ab43b75c33189"
    assert rep.accepted_ == 151 and rep.energy_ == pytest.approx(-18.512912841325416, abs=1e-9)
