"""The fits ``sandwich plan`` costs by solver, timed with their own code (docs/planning.md).

Run (one command):

    OMP_NUM_THREADS=1 python benchmarks/fit_units.py

Prints, each the fastest of ``--repeat`` runs after a warm-up, on the planner's
hidden-state-like synthetic features (``runs.cost._hidden_like``):

- one fit of each features reporter on 150 items of 576 features (smollm2-135m's
  width; contrast pairs for CRC and CCS): the probe (its C search), mass-mean, CRC, CCS at its
  defaults (1000 epochs x 10 restarts), what every one of them was costed as
  before (one probe fit);
- ICM's search with its probe predictor, 3000 proposals, on 64, 128 and 256
  claims: a fixed cost per proposal plus one per claim, which is why the planner
  calibrates it at two sizes;
- the Bradley-Terry units the planner measures (seconds per comparison x
  feature, hard and soft labels; ``runs.cost._bt_rates``).

The load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, cast

import numpy as np

from sandwich.elicit import ELICITORS, Elicitor
from sandwich.runs.cost import _best, _bt_rates, _hidden_like


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, d = 300, 576
    pairs = np.hstack([_hidden_like(n, d, rng)] * 2)
    pairs[:, d:] += rng.standard_normal((n, d)).astype(np.float32)
    score = pairs[:, :d] @ rng.standard_normal(d)
    y = (score > np.median(score)).astype(float)

    def fit(name: str, rows: int, **params: Any) -> float:
        model = cast(Elicitor, ELICITORS.build(name, **params))
        x = pairs[:rows] if model.needs_contrast else pairs[:rows, :d]
        return _best(lambda: model.fit(x, y[:rows], random_state=0), args.repeat)

    print(f"load average {os.getloadavg()[0]:.2f}; 150 items of {d} features (pairs for the "
          "contrast reporters), one fit each:")  # fmt: skip
    for name in ("probe", "mass-mean", "crc", "ccs"):
        print(f"  {name:10} {fit(name, 150):.4f} s")
    print("ICM with its probe predictor, 3000 proposals:")
    for claims in (64, 128, 256):
        seconds = fit("icm", max(claims // 2, 100), max_items=claims // 2, iterations=3000)
        print(f"  {claims:3d} claims {seconds:.3f} s")
    units = _bt_rates(args.repeat)
    print(f"Bradley-Terry, s per comparison x feature: hard {units['bt_unit']:.2e}, "
          f"soft {units['bt_soft_unit']:.2e}; load average {os.getloadavg()[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
