"""Common estimator-contract checks run over every registered elicitor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from sandwich.elicit import ELICITORS, Elicitor

Clustered = Callable[..., Any]

# the feature elicitors (fine-tuning elicitors train on texts: tests/elicit/finetune)
NAMES = [n for n in ELICITORS.names() if ELICITORS.build(n).inputs == "features"]


def test_builtins_registered() -> None:
    assert {"probe", "probe-logconf"} <= set(NAMES)


@pytest.fixture(scope="module")
def problem(make_clustered: Clustered) -> tuple[np.ndarray, ...]:
    return make_clustered(0, n=300, d=20, n_test=300, mu=2.5)


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self(name: str, problem: tuple[np.ndarray, ...]) -> None:
    X, y, _, _ = problem
    est = ELICITORS.build(name)
    assert est.fit(X, y, random_state=0) is est


@pytest.mark.parametrize("name", NAMES)
def test_predict_proba_shape_and_range(name: str, problem: tuple[np.ndarray, ...]) -> None:
    X, y, Xt, _ = problem
    p = ELICITORS.build(name).fit(X, y).predict_proba(Xt)
    assert p.shape == (len(Xt),)
    assert np.all((p >= 0) & (p <= 1)) and np.isfinite(p).all()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name: str, problem: tuple[np.ndarray, ...]) -> None:
    X, y, Xt, _ = problem
    a = ELICITORS.build(name).fit(X, y, random_state=3).predict_proba(Xt)
    b = ELICITORS.build(name).fit(X, y, random_state=3).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_learns_separable_problem(name: str, problem: tuple[np.ndarray, ...]) -> None:
    X, y, Xt, yt = problem
    p = ELICITORS.build(name).fit(X, y).predict_proba(Xt)
    assert np.mean((p > 0.5) == yt) > 0.95


@pytest.mark.parametrize("name", NAMES)
def test_soft_labels_accepted(name: str, problem: tuple[np.ndarray, ...]) -> None:
    X, y, Xt, yt = problem
    soft = np.where(y == 1, 0.8, 0.2)
    p = ELICITORS.build(name).fit(X, soft).predict_proba(Xt)
    assert np.mean((p > 0.5) == yt) > 0.9


@pytest.mark.parametrize("name", NAMES)
def test_get_params_round_trip(name: str) -> None:
    est: Elicitor = ELICITORS.build(name)
    params = est.get_params()
    clone = type(est)(**params)
    assert clone.get_params() == params
    assert not any(k.endswith("_") for k in params)
