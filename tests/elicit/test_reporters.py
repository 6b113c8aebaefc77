"""The truth reporters (mass-mean, ccs, crc) on synthetic features with a planted direction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from sandwich.elicit import ELICITORS
from sandwich.elicit.base import Split
from sandwich.elicit.reporters.ccs import CCSReporter, ccs_grads, ccs_loss
from sandwich.elicit.reporters.contrast import PairNormaliser, sign_from
from sandwich.elicit.reporters.crc import CRCReporter
from sandwich.elicit.reporters.mass_mean import MassMeanProbe
from sandwich.errors import ConfigError
from sandwich.models import Model


@dataclass
class Planted:
    """Contrast pairs of n items: a statement part shared by both halves, the truth
    direction ``u`` added to the half that is right and subtracted from the other."""

    pos: np.ndarray
    neg: np.ndarray
    y: np.ndarray
    u: np.ndarray

    @property
    def X(self) -> np.ndarray:
        return np.hstack([self.pos, self.neg])

    def part(self, idx: slice) -> Planted:
        return Planted(self.pos[idx], self.neg[idx], self.y[idx], self.u)


def planted(seed: int, n: int = 600, d: int = 40, strength: float = 1.0) -> Planted:
    rng = np.random.default_rng(seed)
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    y = rng.integers(0, 2, n).astype(np.float64)
    s = 2 * y - 1
    statement = rng.normal(size=(n, d)) * 2.0  # the same in both halves: cancels in pairs
    pos = statement + rng.normal(size=(n, d)) * 0.5 + np.outer(s, u) * strength
    neg = statement + rng.normal(size=(n, d)) * 0.5 - np.outer(s, u) * strength
    return Planted(pos, neg, y, u)


def accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p > 0.5) == (y > 0.5)))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def flip(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    """``y`` with a random ``share`` of the labels flipped (a weak supervisor's errors)."""
    wrong = np.random.default_rng([seed, 1]).random(len(y)) < share
    return np.where(wrong, 1.0 - y, y)


TRAIN, TEST = slice(0, 300), slice(300, None)


def test_mass_mean_on_weak_labels_recovers_the_planted_direction() -> None:
    """Plain features: isotropic noise plus +-1.5 u by the label; a quarter of B's labels
    flipped. The flips shrink the difference of means but do not turn it."""
    rng = np.random.default_rng(0)
    n, d = 600, 40
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    y = rng.integers(0, 2, n).astype(np.float64)
    X = rng.normal(size=(n, d)) + np.outer(2 * y - 1, u) * 1.5
    probe = ELICITORS.build("mass-mean").fit(X[:300], flip(y[:300], 0.25, seed=0))
    assert isinstance(probe, MassMeanProbe)
    assert accuracy(probe.predict_proba(X[300:]), y[300:]) > 0.85  # Bayes rate Phi(1.5) = 0.93
    assert cosine(probe.direction_, u) > 0.8  # expected about 0.9: 1.5 u plus noise of norm 0.7


def test_the_covariance_correction_helps_when_the_noise_is_correlated_with_the_truth() -> None:
    """Marks & Tegmark's iid variant: with a strong noise direction that leans on the truth
    direction, Sigma^-1 theta separates the classes better than theta itself."""
    rng = np.random.default_rng(1)
    n, d = 1200, 20
    u = np.eye(d)[0]
    v = np.eye(d)[0] + np.eye(d)[1]
    v /= np.linalg.norm(v)
    y = rng.integers(0, 2, n).astype(np.float64)
    X = rng.normal(size=(n, d)) * 0.3 + np.outer(rng.normal(size=n) * 3.0, v)
    X += np.outer(2 * y - 1, u) * 0.5
    plain = ELICITORS.build("mass-mean").fit(X[:600], y[:600])
    corrected = ELICITORS.build("mass-mean", covariance=True).fit(X[:600], y[:600])
    fixed = ELICITORS.build("mass-mean", covariance=True, shrinkage=0.01).fit(X[:600], y[:600])
    acc = {name: accuracy(e.predict_proba(X[600:]), y[600:])
           for name, e in [("plain", plain), ("auto", corrected), ("fixed", fixed)]}  # fmt: skip
    assert acc["auto"] > acc["plain"] + 0.1, acc
    assert acc["fixed"] > acc["plain"] + 0.1, acc
    assert acc["auto"] > 0.85, acc  # the Bayes rate here is Phi(1.18) = 0.88


@pytest.mark.parametrize("name", ["ccs", "crc"])
def test_unsupervised_reporters_recover_the_planted_direction(name: str) -> None:
    data = planted(2)
    b, t = data.part(TRAIN), data.part(TEST)
    weak = flip(b.y, 0.3, seed=2)  # only the sign is read from these
    rep = ELICITORS.build(name).fit(b.X, weak, random_state=0)
    assert accuracy(rep.predict_proba(t.X), t.y) > 0.95
    direction = rep.coef_ if isinstance(rep, CCSReporter) else rep.direction_
    # the direction lives in the normalised space: map the planted one there
    assert cosine(direction, data.u / rep.normaliser_.scale_pos) > 0.9
    assert rep.supervision == "sign" and not rep.needs_gold and rep.needs_contrast


def test_crc_is_the_top_right_singular_vector_of_the_normalised_differences() -> None:
    data = planted(3, n=200, d=30)
    rep = ELICITORS.build("crc").fit(data.X, data.y)
    assert isinstance(rep, CRCReporter)
    pos = (data.pos - data.pos.mean(0)) / data.pos.std(0)
    neg = (data.neg - data.neg.mean(0)) / data.neg.std(0)
    top = np.linalg.svd(pos - neg)[2][0]
    sign = np.sign(top @ rep.direction_)
    np.testing.assert_allclose(rep.direction_, sign * top, atol=1e-10)
    # normalize="mean" only centres: the SVD of the centred differences
    centred = ELICITORS.build("crc", normalize="mean").fit(data.X, data.y)
    d = (data.pos - data.pos.mean(0)) - (data.neg - data.neg.mean(0))
    top = np.linalg.svd(d)[2][0]
    np.testing.assert_allclose(np.abs(centred.direction_ @ top), 1.0, atol=1e-10)


def test_ccs_finds_flipped_directions_and_the_weak_sign_rule_turns_them_back() -> None:
    """The CCS loss cannot tell w from -w: over seeds, some raw directions come out
    flipped (raw agreement with the labels < 0.5); the ``weak`` rule flips them back, even
    with a third of the weak labels wrong."""
    data = planted(4, n=400)
    b, t = data.part(slice(0, 200)), data.part(slice(200, None))
    weak = flip(b.y, 0.3, seed=4)
    raw, final = [], []
    for seed in range(6):
        rep = ELICITORS.build("ccs", restarts=1, epochs=300, lr=1e-2).fit(b.X, weak, seed)
        raw.append(rep.raw_agreement_)
        final.append(accuracy(rep.predict_proba(t.X), t.y))
        assert rep.sign_ == (1 if rep.raw_agreement_ >= 0.5 else -1)
    assert min(raw) < 0.5 < max(raw), raw  # both signs occur
    assert min(final) > 0.95, final


def test_the_sign_rule_reads_only_its_reference() -> None:
    assert sign_from(np.array([0.9, 0.2, 0.7]), np.array([1.0, 0.0, 1.0])) == 1
    assert sign_from(np.array([0.9, 0.2, 0.7]), np.array([0.0, 1.0, 0.0])) == -1
    assert sign_from(np.array([0.9, 0.2]), np.array([1.0, 1.0])) == 1  # a tie keeps the sign


@dataclass
class PairInputs:
    """A cell's data as the reporters read it: contrast features, weak y given separately."""

    data: Planted
    strong: str = "fake-strong"
    seed: int = 0
    progress: bool = False

    def _part(self, split: Split) -> Planted:
        return self.data.part(TRAIN if split == "train_strong" else TEST)

    def features(self, split: Split) -> np.ndarray:
        return self._part(split).pos

    def contrast_features(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        part = self._part(split)
        return part.pos, part.neg

    def texts(self, split: Split) -> list[str]:
        raise AssertionError("reporters read no texts")

    def gold(self, split: Split) -> np.ndarray:
        return self._part(split).y

    def model(self, name: str) -> Model:
        raise AssertionError("reporters load no model")


@pytest.mark.parametrize("name", ["ccs", "crc"])
def test_the_oracle_sign_reads_gold_and_is_flagged_the_weak_one_reads_the_labels(
    name: str,
) -> None:
    cell = PairInputs(planted(5))
    adversarial = 1.0 - cell.gold("train_strong")  # a supervisor that is always wrong
    weak = ELICITORS.build(name).fit_cell(cell, adversarial)
    oracle = ELICITORS.build(name, sign="oracle").fit_cell(cell, adversarial)
    y_t = cell.gold("test")
    assert accuracy(weak.predict_cell(cell), y_t) < 0.05  # its one bit came from the labels
    assert accuracy(oracle.predict_cell(cell), y_t) > 0.95
    assert oracle.needs_gold and oracle.supervision == "none"
    assert not weak.needs_gold and weak.supervision == "sign"


def test_mass_mean_fits_a_cell_on_the_plain_features_and_labels() -> None:
    cell = PairInputs(planted(6))
    probe = ELICITORS.build("mass-mean")
    assert not probe.needs_contrast and probe.supervision == "labels"
    p = probe.fit_cell(cell, cell.gold("train_strong")).predict_cell(cell)
    direct = ELICITORS.build("mass-mean").fit(
        cell.features("train_strong"), cell.gold("train_strong")
    )
    np.testing.assert_array_equal(p, direct.predict_proba(cell.features("test")))


def test_ccs_is_deterministic_per_seed_and_keeps_the_restart_with_the_lowest_loss() -> None:
    data = planted(7, n=200, d=20)
    kw = {"restarts": 4, "epochs": 200, "lr": 1e-2}
    a = ELICITORS.build("ccs", **kw).fit(data.X, data.y, random_state=1)
    b = ELICITORS.build("ccs", **kw).fit(data.X, data.y, random_state=1)
    c = ELICITORS.build("ccs", **kw).fit(data.X, data.y, random_state=2)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)
    assert a.loss_ == min(a.losses_) and len(a.losses_) == 4
    pos, neg = a.normaliser_.transform(data.pos, data.neg)
    p_pos = 1 / (1 + np.exp(-(pos @ a.coef_ + a.intercept_)))
    p_neg = 1 / (1 + np.exp(-(neg @ a.coef_ + a.intercept_)))
    assert a.loss_ == pytest.approx(float(ccs_loss(p_pos[:, None], p_neg[:, None])[0]))


def test_the_ccs_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(8)
    pos, neg = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    w, b = rng.normal(size=(5, 2)), rng.normal(size=2)
    _, gw, gb = ccs_grads(pos, neg, w, b)
    eps = 1e-6
    for i in range(5):
        dw = np.zeros_like(w)
        dw[i] = eps
        num = (ccs_grads(pos, neg, w + dw, b)[0] - ccs_grads(pos, neg, w - dw, b)[0]) / (2 * eps)
        np.testing.assert_allclose(gw[i], num, rtol=1e-5, atol=1e-8)
    num_b = (ccs_grads(pos, neg, w, b + eps)[0] - ccs_grads(pos, neg, w, b - eps)[0]) / (2 * eps)
    np.testing.assert_allclose(gb, num_b, rtol=1e-5, atol=1e-8)


def test_pairs_are_normalised_per_half_on_the_fit_split() -> None:
    data = planted(9, n=100, d=6)
    norm = PairNormaliser.fit(data.pos[:50], data.neg[:50])
    pos, neg = norm.transform(data.pos[:50], data.neg[:50])
    np.testing.assert_allclose(pos.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(neg.std(0), 1, atol=1e-12)
    later, _ = norm.transform(data.pos[50:], data.neg[50:])  # T: B's statistics, not its own
    np.testing.assert_allclose(
        later, (data.pos[50:] - data.pos[:50].mean(0)) / data.pos[:50].std(0)
    )


@pytest.mark.parametrize(
    ("name", "params", "where"),
    [
        ("ccs", {"restarts": 0}, "restarts"),
        ("ccs", {"lr": 0.0}, "lr"),
        ("ccs", {"epochs": -1}, "epochs"),
        ("crc", {"sign": "gold"}, "sign"),
        ("crc", {"normalize": "l2"}, "normalize"),
        ("mass-mean", {"shrinkage": 1.5}, "shrinkage"),
        ("mass-mean", {"covariance": "maybe"}, "covariance"),
    ],
)
def test_bad_params_are_config_errors_naming_the_field(
    name: str, params: dict[str, object], where: str
) -> None:
    with pytest.raises(ConfigError, match=where):
        ELICITORS.build(name, **params)


def test_bad_inputs_say_what_shape_was_expected() -> None:
    data = planted(10, n=20, d=4)
    with pytest.raises(ValueError, match=r"\(n, 2d\).*hstack"):
        ELICITORS.build("crc").fit(data.X[:, :7], data.y)
    with pytest.raises(ValueError, match="one label per pair"):
        ELICITORS.build("ccs").fit(data.X, data.y[:5])
    with pytest.raises(ValueError, match="all of one class"):
        ELICITORS.build("mass-mean").fit(data.pos, np.ones(20))
