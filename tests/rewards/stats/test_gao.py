"""Gao et al.'s forms: parameters recovered from noisy synthetic curves; peaks where curves peak."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from sandwich.rewards.bon import bon_curve
from sandwich.rewards.gao import GaoFit, fit_bon, fit_bon_curve, fit_rl, relative


def _noisy(form: str, alpha: float, beta: float, d: np.ndarray, sd: float, seed: int) -> np.ndarray:
    log_d = np.log(np.where(d > 0, d, 1.0))
    clean = d * (alpha - beta * d) if form == "bon" else d * (alpha - beta * log_d)
    return clean + sd * np.random.default_rng(seed).standard_normal(len(d))


@pytest.mark.parametrize(
    ("form", "alpha", "beta"), [("bon", 1.2, 0.3), ("bon", 0.5, -0.1), ("rl", 0.8, 0.4)]
)
def test_recovers_parameters_from_a_noisy_curve(form: str, alpha: float, beta: float) -> None:
    d = np.linspace(0.0, 4.0, 40)
    r = _noisy(form, alpha, beta, d, sd=0.02, seed=0)
    fit = fit_bon(d, r) if form == "bon" else fit_rl(d, r)
    assert fit.form == form and fit.n_points == 40
    assert fit.alpha == pytest.approx(alpha, abs=0.03)
    assert fit.beta == pytest.approx(beta, abs=0.02)
    assert fit.r2 > 0.99
    assert fit.rmse == pytest.approx(0.02, rel=0.3)  # the noise level


def test_exact_curve_fits_exactly() -> None:
    d = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    fit = fit_rl(d, d * (1.0 - 0.5 * np.log(np.where(d > 0, d, 1))))
    assert (fit.alpha, fit.beta) == pytest.approx((1.0, 0.5), abs=1e-12)
    assert fit.rmse == pytest.approx(0.0, abs=1e-12) and fit.r2 == pytest.approx(1.0)


@pytest.mark.parametrize(("form", "alpha", "beta"), [("bon", 1.2, 0.3), ("rl", 0.8, 0.4)])
def test_peak_is_the_maximum_of_the_fitted_curve(form: str, alpha: float, beta: float) -> None:
    d = np.linspace(0.05, 8.0, 30)
    fit = (fit_bon if form == "bon" else fit_rl)(d, _noisy(form, alpha, beta, d, 0.05, seed=1))
    assert fit.peak_d is not None and fit.peak_r is not None
    best = minimize_scalar(lambda x: -fit.predict([x])[0], bounds=(1e-6, 50), method="bounded")
    assert fit.peak_d == pytest.approx(best.x, rel=1e-4)
    assert fit.peak_r == pytest.approx(-best.fun, rel=1e-8)
    assert fit.peak_r == pytest.approx(fit.predict([fit.peak_d])[0], rel=1e-12)
    # the true curve's peak, recovered through the fitted parameters
    true_peak = alpha / (2 * beta) if form == "bon" else math.exp(alpha / beta - 1)
    assert fit.peak_d == pytest.approx(true_peak, rel=0.1)


def test_no_peak_when_the_curve_never_turns_down() -> None:
    d = np.linspace(0, 3, 10)
    fit = fit_bon(d, 0.5 * d + 0.05 * d**2)
    assert fit.beta < 0 and fit.peak_d is None and fit.peak_r is None
    rl = fit_rl(d, d * (2.0 + 0.3 * np.log(np.where(d > 0, d, 1.0))))
    assert rl.beta == pytest.approx(-0.3) and rl.peak_d is None and rl.peak_r is None
    # beta = 0 up to rounding: the peak would lie beyond any float
    assert fit_rl(d[1:], 2.0 * d[1:]).peak_d is None


def test_r2_is_centred_and_can_be_negative() -> None:
    d = np.array([1.0, 2.0, 3.0, 4.0])
    fit = fit_bon(d, np.array([1.0, -1.0, 1.0, -1.0]))  # no form through 0 fits this
    ss_res = float(((np.array([1.0, -1, 1, -1]) - fit.predict(d)) ** 2).sum())
    assert fit.r2 == pytest.approx(1 - ss_res / 4.0)


@pytest.mark.parametrize(
    ("d", "r", "match"),
    [
        ([0.0, 1.0], [0.0, 1.0], "need at least 2 distinct d > 0"),
        ([1.0, 1.0, 0.0], [1.0, 1.1, 0.0], "need at least 2 distinct d > 0"),
        ([-1.0, 1.0, 2.0], [0.0, 1.0, 1.0], r"d must be finite and >= 0 \(it is sqrt\(KL\)\)"),
        ([1.0, 2.0], [1.0], r"r has shape \(1,\), d \(2,\)"),
        ([1.0, 2.0], [1.0, np.nan], "r must be finite"),
    ],
)
def test_bad_points_raise(d: list[float], r: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_bon(d, r)


def test_relative_and_fitting_a_bon_curve() -> None:
    np.testing.assert_allclose(relative([1.0, 1.5, 1.2], 1.0), [0.0, 0.5, 0.2])
    rng = np.random.default_rng(2)
    gold = rng.standard_normal((100, 64))
    proxy = gold + 2.0 * rng.standard_normal((100, 64))
    curve = bon_curve(proxy, gold, [1, 2, 4, 8, 16, 32, 64], n_boot=100)
    fit = fit_bon_curve(curve)
    assert isinstance(fit, GaoFit) and fit.n_points == 7
    direct = fit_bon([p.sqrt_kl for p in curve], [p.gold_gain for p in curve])
    assert fit == direct
    assert fit.alpha > 0 and fit_bon_curve(curve, "proxy").alpha > fit.alpha
