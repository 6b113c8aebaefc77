from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sandwich.models import MODELS, FeatureSpec, load_model
from sandwich.models.fake import FakeModel, truth_of


def arithmetic(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        a, b = (int(x) for x in rng.integers(-60, 100, 2))
        true = bool(rng.random() < 0.5)
        c = a + b if true else a + b + int(rng.choice([-10, -2, -1, 1, 2, 10]))
        texts.append(f"{a} + {b} = {c}.")
        labels.append(true)
    return texts, np.array(labels)


def probe_accuracy(name: str, texts: list[str], y: np.ndarray) -> float:
    x = load_model(name).features(texts, FeatureSpec(layers=(-1,)))[:, 0]
    half = len(texts) // 2
    clf = LogisticRegression(max_iter=1000).fit(x[:half], y[:half])
    return float(clf.score(x[half:], y[half:]))


def test_registered_fakes() -> None:
    for name, skill in (("fake-weak", 0.7), ("fake-mid", 0.85), ("fake-strong", 0.97)):
        model = MODELS.build(name)
        assert isinstance(model, FakeModel) and model.skill == skill


def test_deterministic_and_shapes() -> None:
    texts, _ = arithmetic(50)
    spec = FeatureSpec(layers=(0, 2, -1))
    a = FakeModel("f", 0.8).features(texts, spec)
    b = FakeModel("f", 0.8).features(texts, spec)
    assert a.shape == (50, 3, 32) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    # per-text: order and batch composition do not matter
    np.testing.assert_array_equal(FakeModel("f", 0.8).features(texts[::-1], spec), a[::-1])
    np.testing.assert_array_equal(FakeModel("f", 0.8).features(texts[:1], spec)[0], a[0])
    assert not np.array_equal(FakeModel("f", 0.8, seed=1).features(texts, spec), a)
    assert FakeModel("f", 0.8, dim=8, num_layers=2).features(texts, spec).shape == (50, 3, 8)
    assert FakeModel("f", 0.8).features([], spec).shape == (0, 3, 32)


def test_beliefs_follow_skill() -> None:
    texts, y = arithmetic(4000)
    for skill in (0.7, 0.97):
        m = FakeModel("f", skill)
        agree = np.mean([m.belief(t) == bool(t_) for t, t_ in zip(texts, y, strict=True)])
        assert abs(agree - skill) < 0.03
    assert truth_of("2 + 2 = 4.") is True and truth_of("2 + 2 = 5.") is False
    assert truth_of("The city of Paris is in France.") is None


def test_skill_ladder_with_linear_probe() -> None:
    texts, y = arithmetic(3000, seed=1)
    weak = probe_accuracy("fake-weak", texts, y)
    strong = probe_accuracy("fake-strong", texts, y)
    assert 0.64 < weak < 0.76
    assert strong > 0.93 and strong > weak + 0.15


def test_bfloat16_and_bad_layers() -> None:
    texts, _ = arithmetic(10)
    m = FakeModel("f", 0.9)
    x32 = m.features(texts, FeatureSpec())
    x16 = m.features(texts, FeatureSpec(dtype="bfloat16"))
    assert x16.dtype == np.float32 and np.allclose(x32, x16, rtol=1e-2, atol=1e-2)
    with pytest.raises(ValueError, match="out of range"):
        m.features(texts, FeatureSpec(layers=(9,)))


def test_a_model_registered_without_params_loads_with_its_arguments() -> None:
    """A user's model factory that declares no Params still loads by name, and the
    arguments given go to it as they are (load_model used to fail on the missing model)."""
    name = "test-no-params-model"
    MODELS.register(name)(lambda **kw: FakeModel(name, dim=kw["dim"]))
    try:
        model = load_model(name, dim=5)
        assert isinstance(model, FakeModel) and model.dim == 5
    finally:
        MODELS._entries.pop(name)


def test_a_contrast_pair_shares_the_statements_belief_negated_for_false() -> None:
    """The halves of a contrast pair (sandwich.tasks.contrast) are the statement asserted and
    negated: the fake model believes them as it believes the statement."""
    model = load_model("fake-mid")
    assert isinstance(model, FakeModel)
    statements = [f"{a} + {a} = {2 * a + (a % 3 == 0)}." for a in range(60)]
    for s in statements:
        assert model.belief(f"{s} True") == model.belief(s)
        assert model.belief(f"{s} False") == (not model.belief(s))
    assert model.belief("Q? Answer: False") == (not model.belief("Q?"))
    # the statement's belief, not the truth: with skill 0.85 some are wrong, both halves alike
    wrong = [s for s in statements if model.belief(s) != truth_of(s)]
    assert wrong and all(model.belief(f"{s} True") != truth_of(s) for s in wrong)
