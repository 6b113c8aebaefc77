"""The simulated non-expert matches its documented error model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sandwich.errors import ConfigError
from sandwich.supervision import SUPERVISORS
from sandwich.supervision.nonexpert import NonExpertSupervisor
from sandwich.tasks import Item, Task, load_task


def no_features(model: str, items: Sequence[Item]) -> np.ndarray:
    raise AssertionError("the non-expert reads no features")


@pytest.fixture(scope="module")
def task() -> Task:
    return load_task("arithmetic", n_items=4000, seed=0)


def _fit(task: Task, **params: object) -> NonExpertSupervisor:
    sup = SUPERVISORS.build("nonexpert", **params)
    assert isinstance(sup, NonExpertSupervisor)
    return sup.fit(task.split(0).train_weak, no_features, random_state=0)


@pytest.mark.parametrize(
    ("knowledge", "confidence", "bias"),
    [(0.5, 0.9, 0.0), (0.8, 0.95, 0.0), (0.2, 0.8, 0.6), (0.0, 0.9, -0.4), (1.0, 1.0, 0.0)],
)
def test_accuracy_matches_the_model(
    task: Task, knowledge: float, confidence: float, bias: float
) -> None:
    sup = _fit(task, knowledge=knowledge, confidence=confidence, bias=bias)
    p = sup.predict_proba(task.items, no_features)
    y = task.labels()
    accuracy = float(np.mean((p > 0.5) == y))
    expected = knowledge * confidence + (1 - knowledge) * 0.5  # balanced items
    assert accuracy == pytest.approx(expected, abs=0.03)
    assert float(np.mean(sup.knows(task.items))) == pytest.approx(knowledge, abs=0.03)


def test_knows_the_easy_items(task: Task) -> None:
    sup = _fit(task, knowledge=0.4)
    known = sup.knows(task.items)
    d = np.array([it.difficulty for it in task.items])
    assert d[known].max() <= d[~known].min() + 1e-12


def test_soft_labels_state_its_confidence(task: Task) -> None:
    sup = _fit(task, knowledge=0.5, confidence=0.85, guess_confidence=0.55)
    p = sup.predict_proba(task.items, no_features)
    known = sup.knows(task.items)
    assert set(np.round(p[known], 6)) <= {0.85, 0.15}
    assert set(np.round(p[~known], 6)) <= {0.55, 0.45}


@pytest.mark.parametrize("bias", [-0.8, 0.0, 0.8])
def test_bias_shifts_yes_rate(task: Task, bias: float) -> None:
    sup = _fit(task, knowledge=0.5, bias=bias)
    yes = float(np.mean(sup.predict_proba(task.items, no_features) > 0.5))
    assert yes == pytest.approx(0.5 + 0.5 * bias / 2, abs=0.03)


def test_deterministic_per_item_not_per_call_order(task: Task) -> None:
    sup = _fit(task)
    p = sup.predict_proba(task.items, no_features)
    rev = sup.predict_proba(task.items[::-1], no_features)[::-1]
    np.testing.assert_array_equal(p, rev)
    np.testing.assert_array_equal(p, _fit(task).predict_proba(task.items, no_features))
    other = SUPERVISORS.build("nonexpert").fit(task.split(0).train_weak, no_features, 1)
    assert not np.array_equal(p, other.predict_proba(task.items, no_features))


def test_ties_in_difficulty_are_broken_at_random() -> None:
    items = [Item.make(f"s{i}", i % 2 == 0) for i in range(2000)]  # all difficulty 0.5
    sup = NonExpertSupervisor(knowledge=0.3).fit(items[:600], no_features, 0)
    assert float(np.mean(sup.knows(items))) == pytest.approx(0.3, abs=0.04)


@pytest.mark.parametrize(
    ("param", "value", "allowed"),
    [
        ("knowledge", 1.5, "less than or equal to 1"),
        ("bias", -2.0, "greater than or equal to -1"),
        ("confidence", 0.3, "greater than or equal to 0.5"),
        ("guess_confidence", 1.1, "less than or equal to 1"),
    ],
)
def test_invalid_params(param: str, value: float, allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        SUPERVISORS.build("nonexpert", **{param: value})
    assert param in str(info.value) and allowed in str(info.value)


# --- systematic errors -------------------------------------------------------


@pytest.fixture(scope="module")
def cities() -> Task:
    return load_task("cities", n_items=2000, seed=0)


@pytest.mark.parametrize(
    ("heuristic", "expected"), [("true", 0.75), ("false", 0.75), ("flip", 0.5)]
)
def test_systematic_accuracy_matches_the_model(
    cities: Task, heuristic: str, expected: float
) -> None:
    sup = _fit(
        cities, errors="systematic", attribute="country", knowledge=0.5, confidence=1.0,
        heuristic=heuristic,
    )  # fmt: skip
    p = sup.predict_proba(cities.items, no_features)
    blind = sup.blind(cities.items)
    share = float(blind.mean())
    assert share == pytest.approx(0.5, abs=0.06)  # whole countries: the share overshoots a little
    accuracy = float(np.mean((p > 0.5) == cities.labels()))
    # (1 - s) c + s/2 for true/false, (1 - s) c for flip, with the measured share s
    model = (1 - share) + (share / 2 if heuristic != "flip" else 0.0)
    assert accuracy == pytest.approx(model, abs=0.03)
    assert model == pytest.approx(expected, abs=0.06)


def test_systematic_errors_follow_the_attribute(cities: Task) -> None:
    sup = _fit(cities, errors="systematic", attribute="continent", knowledge=0.6,
                  confidence=1.0, heuristic="true")  # fmt: skip
    p = sup.predict_proba(cities.items, no_features)
    continent = np.array([it.metadata["continent"] for it in cities.items])
    blind = sup.blind(cities.items)
    # a continent is wholly blind or wholly known, and every blind item is answered "true"
    for c in set(continent):
        assert len(set(blind[continent == c])) == 1
    assert np.all(p[blind] > 0.5)
    wrong = (p > 0.5) != cities.labels()
    assert wrong.any() and np.all(blind[wrong])


def test_systematic_needs_a_real_attribute(cities: Task) -> None:
    with pytest.raises(ConfigError, match=r"no metadata .planet.*continent"):
        _fit(cities, errors="systematic", attribute="planet")
    with pytest.raises(ConfigError, match="errors: Input should be 'random' or 'systematic'"):
        SUPERVISORS.build("nonexpert", errors="sometimes")
    with pytest.raises(ConfigError, match="only used with errors='systematic'"):
        SUPERVISORS.build("nonexpert", attribute="continent")


def test_a_student_imitates_systematic_errors_more_than_random_ones() -> None:
    """At equal weak accuracy, a probe on features that represent the attribute
    copies a systematic supervisor's errors far more than a random one's."""
    from sandwich.elicit import ELICITORS
    from sandwich.metrics import accuracy, agreement_on_errors

    rng = np.random.default_rng(0)
    n, regions = 3000, 12
    region = rng.integers(0, regions, n)
    y = rng.random(n) < 0.5
    items = [
        Item.make(
            f"statement {i}", bool(y[i]), difficulty=float(rng.random()), region=int(region[i])
        )
        for i in range(n)
    ]
    # the strong model's features: a truth direction, the region (one-hot), noise
    X = np.concatenate(
        [((2 * y - 1) * 1.5 + rng.normal(size=n))[:, None], np.eye(regions)[region],
         rng.normal(size=(n, 8))], axis=1,
    ).astype(np.float32)  # fmt: skip
    a, b, t = np.arange(0, 1000), np.arange(1000, 2000), np.arange(2000, 3000)
    common = {"knowledge": 0.5, "confidence": 1.0}
    supervisors = {
        "random": SUPERVISORS.build("nonexpert", **common),
        "systematic": SUPERVISORS.build(
            "nonexpert", errors="systematic", attribute="region", heuristic="true", **common
        ),
    }
    imitation, weak_acc = {}, {}
    for name, sup in supervisors.items():
        sup.fit([items[i] for i in a], no_features, random_state=0)
        p_b = sup.predict_proba([items[i] for i in b], no_features)
        p_t = sup.predict_proba([items[i] for i in t], no_features)
        student = ELICITORS.build("probe").fit(X[b], p_b, random_state=0)
        imitation[name] = agreement_on_errors(y[t], student.predict_proba(X[t]), p_t)
        weak_acc[name] = accuracy(y[t], p_t)
    assert weak_acc["random"] == pytest.approx(weak_acc["systematic"], abs=0.05)
    assert imitation["systematic"] is not None and imitation["random"] is not None
    # measured: 0.22 systematic vs 0.08 random (weak accuracy 0.74 vs 0.78)
    assert imitation["systematic"] > 2 * imitation["random"]
    assert imitation["systematic"] - imitation["random"] > 0.1
