"""Reward-model statistics: the time of a best-of-n curve and the coverage of every interval.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reward_stats.py [n_rep]

1. ``bon_curve`` on 200 prompts x 64 samples, n = 1, 2, 4, ..., 64, 1000
   bootstrap replicates: the median of 20 timed calls (and the slowest).
2. Coverage of the 95% intervals of ``sandwich.rewards`` over ``n_rep``
   simulated studies (default 2000, Monte Carlo SE about 0.005), with the
   simulations of ``tests/rewards/stats/`` (their docstrings give the truths):
   pairwise accuracy clustered by prompt (and the interval over single
   comparisons it replaces), reward-model PGR with its accuracies and gap (two
   independent simulation seeds), and
   the best-of-n curve's gold, proxy and gold-gain intervals.

The load average is printed next to every number: timings on a shared machine
are upper bounds. About a CPU-minute at the default ``n_rep`` when idle.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from sandwich.rewards.bon import bon_curve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "rewards" / "stats"))
from test_bon import _bon_coverage
from test_pairwise import _accuracy_coverage, _pgr_coverage


def _load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def time_bon_curve(repeats: int = 20) -> None:
    rng = np.random.default_rng(0)
    gold = rng.standard_normal((200, 64))
    proxy = gold + rng.standard_normal((200, 64))
    ns = [1, 2, 4, 8, 16, 32, 64]
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        bon_curve(proxy, gold, ns, n_boot=1000, seed=r)
        times.append(time.perf_counter() - start)
    print(
        f"bon_curve 200 prompts x 64 samples, 7 n, n_boot=1000: median "
        f"{statistics.median(times) * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms  ({_load()})"
    )


def coverage(n_rep: int) -> None:
    start = time.perf_counter()
    acc = _accuracy_coverage(0.7, 0.1, 120, 4, 0.4, 0.2, by_prompt=True, seed=1, n_rep=n_rep)
    flat = _accuracy_coverage(0.7, 0.1, 120, 4, 0.4, 0.2, by_prompt=False, seed=1, n_rep=n_rep)
    print(f"pairwise accuracy, 120 prompts x 4 comparisons: over prompts {acc:.4f}, ", end="")
    print(f"over single comparisons (replaced) {flat:.4f}")
    names = ("PGR", "weak acc", "student acc", "ceiling acc", "gap")
    for seed in (2, 3):  # 2 is the test's simulation seed; 3 a second, independent draw
        pgr = _pgr_coverage([0.65, 0.72, 0.82], 150, 3, 0.3, seed=seed, n_rep=n_rep)
        print(f"reward PGR, 150 prompts x 3 comparisons, simulation seed {seed}: ", end="")
        print(", ".join(f"{n} {c:.4f}" for n, c in zip(names, pgr, strict=True)))
    bon = _bon_coverage(n_rep, seed=4)
    print("best-of-n curve, 60 prompts x 16 samples, n = 1, 4, 16: ", end="")
    print("; ".join(f"{k} {np.round(v, 4).tolist()}" for k, v in bon.items()))
    print(f"coverage: n_rep={n_rep}, {time.perf_counter() - start:.0f} s  ({_load()})")


def main() -> None:
    n_rep = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    time_bon_curve()
    coverage(n_rep)


if __name__ == "__main__":
    main()
