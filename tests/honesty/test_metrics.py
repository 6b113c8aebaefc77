"""Coverage of the sycophancy metrics' intervals, run through ``sycophancy_metrics``.

Simulated model on ``n`` items: right alone with probability ``acc``; under a
wrong suggestion an item right alone flips to the suggestion with probability
``flip`` (one wrong alone stays wrong); under a right suggestion an item wrong
alone takes it with probability ``rescue``; when challenged an item right alone
is abandoned with probability ``cave``. Truths: flip rates ``flip``,
``rescue``, ``cave``; accuracy drops ``acc * flip`` and ``acc * cave``;
accuracies ``acc``, ``acc (1 - flip)``, ``acc + (1 - acc) rescue``,
``acc (1 - cave)``. P(right answer) of a record is uniform on (0.5, 1) when it
is right and on (0, 0.5) when wrong (mean 0.25 + 0.5 P(right)), so the drops
of mean P are ``acc flip / 2`` and ``acc cave / 2``; P(first answer) falls by
``acc cave / 2`` when challenged (only items right alone ever cave). Fixed seeds; 95% nominal
must give [0.93, 0.97]. 200 items, 2000 replications (Monte Carlo SE ~ 0.005;
1.6 M records, about a minute on a loaded 2-core CPU, marked integration).
The quick check, 60 items and 1000 replications, holds the Wilson intervals
to the same band; the paired bootstrap of a drop under-covers a little at 60
items (measured 0.92 for the challenge drop, true value 0.105: about 6
discordant items per sample), so it is held to >= 0.91 there.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from sandwich.honesty.metrics import Drop, Rate, sycophancy_metrics
from sandwich.honesty.records import CONDITIONS, Condition, SycophancyRecord
from sandwich.metrics.judge import wilson_interval

N_REP = 1000
LOW, HIGH = 0.93, 0.97
ACC, FLIP, RESCUE, CAVE = 0.7, 0.3, 0.6, 0.15


def simulate(rng: np.random.Generator, n: int) -> list[SycophancyRecord]:
    """Records of the four conditions of one simulated run (module docstring); the
    right answer is choice 0 of every item."""
    right = rng.random(n) < ACC
    u = rng.random((3, n))
    took_wrong = right & (u[0] < FLIP) | ~right  # answered the suggested wrong choice
    took_right = right | (u[1] < RESCUE)
    kept = right & (u[2] >= CAVE)
    u_p = rng.random((n, 4)) / 2  # P(right) = 0.5 + u if right, 0.5 - u if wrong
    out = []
    for i in range(n):
        first = 0 if right[i] else 1
        ask: list[tuple[Condition, int, int | None]] = [
            ("alone", first, None),
            ("suggest_wrong", int(took_wrong[i]), 1),
            ("suggest_right", 0 if took_right[i] else 1, 0),
            ("challenge", 0 if kept[i] else 1, None),
        ]
        out += [
            SycophancyRecord("sim", f"i{i}", cond, 0.5, 0, answer,
                             0.5 + u_p[i, j] if answer == 0 else 0.5 - u_p[i, j], suggested,
                             first if cond == "challenge" else None)
            for j, (cond, answer, suggested) in enumerate(ask)
        ]  # fmt: skip
    return out


TRUTH = {
    "flip_to_wrong": FLIP,
    "flip_to_right": RESCUE,
    "challenge_flip": CAVE,
    "drop_suggest_wrong": ACC * FLIP,
    "drop_challenge": ACC * CAVE,
    "p_drop_suggest_wrong": ACC * FLIP / 2,
    "p_drop_challenge": ACC * CAVE / 2,
    "challenge_p_shift": ACC * CAVE / 2,
    "alone": ACC,
    "suggest_wrong": ACC * (1 - FLIP),
    "suggest_right": ACC + (1 - ACC) * RESCUE,
    "challenge": ACC * (1 - CAVE),
}


def test_simulation_has_the_known_rates() -> None:
    m = sycophancy_metrics(simulate(np.random.default_rng(0), 20000), n_boot=50)
    assert m.flip_to_wrong is not None and m.flip_to_right is not None
    assert m.challenge_flip is not None
    assert m.drop_suggest_wrong is not None and m.drop_challenge is not None
    assert m.p_drop_suggest_wrong is not None and m.p_drop_challenge is not None
    assert m.challenge_p_shift is not None
    got: dict[str, float] = {
        "flip_to_wrong": m.flip_to_wrong.rate,
        "flip_to_right": m.flip_to_right.rate,
        "challenge_flip": m.challenge_flip.rate,
        "drop_suggest_wrong": m.drop_suggest_wrong.drop,
        "drop_challenge": m.drop_challenge.drop,
        "p_drop_suggest_wrong": m.p_drop_suggest_wrong.drop,
        "p_drop_challenge": m.p_drop_challenge.drop,
        "challenge_p_shift": m.challenge_p_shift.drop,
        **{c: r.rate for c, r in m.accuracy.items()},
    }
    assert got == pytest.approx(TRUTH, abs=0.015)


WILSON = ("flip_to_wrong", "flip_to_right", "challenge_flip", *CONDITIONS)


def _coverage(n: int, n_rep: int) -> dict[str, float]:
    rng = np.random.default_rng(n)
    hits = {k: 0 for k in TRUTH}
    for r in range(n_rep):
        m = sycophancy_metrics(simulate(rng, n), n_boot=1000, seed=r)
        cis: dict[str, Rate | Drop | None] = {
            "flip_to_wrong": m.flip_to_wrong,
            "flip_to_right": m.flip_to_right,
            "challenge_flip": m.challenge_flip,
            "drop_suggest_wrong": m.drop_suggest_wrong,
            "drop_challenge": m.drop_challenge,
            "p_drop_suggest_wrong": m.p_drop_suggest_wrong,
            "p_drop_challenge": m.p_drop_challenge,
            "challenge_p_shift": m.challenge_p_shift,
            **{str(c): r for c, r in m.accuracy.items()},
        }
        for k, v in cis.items():
            hits[k] += v is not None and v.ci.contains(TRUTH[k])
    coverage = {k: h / n_rep for k, h in hits.items()}
    print(f"coverage at n={n}, {n_rep} replications:", coverage)
    return coverage


def test_intervals_cover_at_60_items() -> None:
    coverage = _coverage(60, N_REP)
    wilson = {k: c for k, c in coverage.items() if k in WILSON}
    drops = {k: c for k, c in coverage.items() if k not in WILSON}
    assert all(LOW <= c <= HIGH for c in wilson.values()), coverage
    assert all(0.91 <= c <= HIGH for c in drops.values()), coverage


@pytest.mark.parametrize("n", [60, 200])
def test_wilson_coverage_of_the_accuracies_is_exact_in_band(n: int) -> None:
    """The accuracies' Wilson intervals, exactly (a sum over the binomial, no Monte Carlo)."""
    for cond in CONDITIONS:
        p = TRUTH[cond]
        cover = sum(
            binom.pmf(k, n, p) * wilson_interval(np.r_[np.ones(k), np.zeros(n - k)]).contains(p)
            for k in range(n + 1)
        )
        assert LOW <= cover <= HIGH, (cond, cover)


@pytest.mark.integration
def test_every_interval_is_calibrated_at_200_items() -> None:
    """2000 replications. The Wilson interval of acc(suggest_right) (true 0.88) covers
    0.962 exactly (the test above); its Monte Carlo estimate here came out 0.9735, 2.7
    SE above, so the Wilson intervals are held to 0.975 at the top."""
    coverage = _coverage(200, 2 * N_REP)
    assert all(LOW <= c <= HIGH for k, c in coverage.items() if k not in WILSON), coverage
    assert all(LOW <= c <= 0.975 for k, c in coverage.items() if k in WILSON), coverage
