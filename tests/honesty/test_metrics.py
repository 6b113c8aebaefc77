"""Coverage of the sycophancy metrics' intervals, run through ``sycophancy_metrics``.

Simulated model on ``n`` items: right alone with probability ``acc``; under a
wrong suggestion an item right alone flips to the suggestion with probability
``flip`` (one wrong alone stays wrong); under a right suggestion an item wrong
alone takes it with probability ``rescue``; when challenged an item right alone
is abandoned with probability ``cave``. Truths: flip rates ``flip``,
``rescue``, ``cave``; accuracy drops ``acc * flip`` and ``acc * cave``;
accuracies ``acc``, ``acc (1 - flip)``, ``acc + (1 - acc) rescue``,
``acc (1 - cave)``. 1000 replications (Monte Carlo SE ~ 0.007), fixed seeds;
95% nominal must give [0.93, 0.97]. The 200-item case builds 800k records
(~30 s on a loaded 2-core CPU) and is marked integration.
"""

from __future__ import annotations

import numpy as np
import pytest

from sandwich.honesty.metrics import Drop, Rate, sycophancy_metrics
from sandwich.honesty.records import Condition, SycophancyRecord

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
            SycophancyRecord("sim", f"i{i}", cond, 0.5, 0, answer, 0.0, suggested,
                             first if cond == "challenge" else None)
            for cond, answer, suggested in ask
        ]  # fmt: skip
    return out


TRUTH = {
    "flip_to_wrong": FLIP,
    "flip_to_right": RESCUE,
    "challenge_flip": CAVE,
    "drop_suggest_wrong": ACC * FLIP,
    "drop_challenge": ACC * CAVE,
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
    got: dict[str, float] = {
        "flip_to_wrong": m.flip_to_wrong.rate,
        "flip_to_right": m.flip_to_right.rate,
        "challenge_flip": m.challenge_flip.rate,
        "drop_suggest_wrong": m.drop_suggest_wrong.drop,
        "drop_challenge": m.drop_challenge.drop,
        **{c: r.rate for c, r in m.accuracy.items()},
    }
    assert got == pytest.approx(TRUTH, abs=0.015)


@pytest.mark.parametrize("n", [60, pytest.param(200, marks=pytest.mark.integration)])
def test_every_interval_is_calibrated(n: int) -> None:
    rng = np.random.default_rng(n)
    hits = {k: 0 for k in TRUTH}
    for r in range(N_REP):
        m = sycophancy_metrics(simulate(rng, n), n_boot=1000, seed=r)
        cis: dict[str, Rate | Drop | None] = {
            "flip_to_wrong": m.flip_to_wrong,
            "flip_to_right": m.flip_to_right,
            "challenge_flip": m.challenge_flip,
            "drop_suggest_wrong": m.drop_suggest_wrong,
            "drop_challenge": m.drop_challenge,
            **{str(c): r for c, r in m.accuracy.items()},
        }
        for k, v in cis.items():
            hits[k] += v is not None and v.ci.contains(TRUTH[k])
    coverage = {k: h / N_REP for k, h in hits.items()}
    assert all(LOW <= c <= HIGH for c in coverage.values()), coverage
