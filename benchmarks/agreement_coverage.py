"""Coverage of the observed-agreement CI (row ``all`` of the agreement table).

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/agreement_coverage.py [n_rep]

For each simulated scenario of ``tests/feedback/test_agreement_coverage.py``
(the same simulation and population values): the share of ``n_rep`` studies
(default 10,000) whose 95% interval contains the population observed
agreement, its Monte Carlo SE, and how often the interval lies wholly above or
below it; for the reported interval (Wilson with the effective number of
items, :func:`sandwich.feedback.analysis.agreement.mean_share_interval`) and the one it
replaced (percentile bootstrap over items, 1000 replicates). About a CPU-minute
at 10,000 studies.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sandwich.feedback.analysis.agreement import mean_share_interval
from sandwich.metrics import Interval, percentile_interval, resample_counts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "feedback"))
from test_agreement_coverage import SCENARIOS, simulate_counts


def bootstrap_interval(shares: np.ndarray, seed: int) -> Interval:
    """The replaced interval: percentile bootstrap of the mean share over items."""
    w = resample_counts(shares.size, 1000, seed)
    return percentile_interval(w @ shares / w.sum(axis=1))


def main() -> None:
    n_rep = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    methods: dict[str, Callable[[np.ndarray, int], Interval]] = {
        "wilson n_eff": lambda p, seed: mean_share_interval(p),
        "percentile bootstrap": bootstrap_interval,
    }
    print(f"{'scenario':26s} {'method':21s} truth  coverage (MC SE)  above  below")
    for i, (name, s) in enumerate(SCENARIOS.items()):
        truth = s.truth()[("all", "agreement")]
        for method, interval in methods.items():
            rng = np.random.default_rng(i + 1)
            above = below = 0
            for rep in range(n_rep):
                c = simulate_counts(rng, s)
                m = c.sum(axis=1)
                ci = interval((c * (c - 1)).sum(axis=1) / (m * (m - 1)), (i + 1) * 100_000 + rep)
                above += ci.low > truth
                below += ci.high < truth
            cov = 1 - (above + below) / n_rep
            se = np.sqrt(cov * (1 - cov) / n_rep)
            print(
                f"{name:26s} {method:21s} {truth:.3f}  {cov:.4f} ({se:.4f})"
                f"  {above / n_rep:.4f} {below / n_rep:.4f}"
            )


if __name__ == "__main__":
    main()
