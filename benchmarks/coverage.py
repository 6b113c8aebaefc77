"""Coverage of every interval sandwich reports, with Monte Carlo error.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/coverage.py [n_rep] [--quick]

For each interval and configuration: the share of simulated experiments whose
95% interval contains the known truth, its Monte Carlo SE, the mean width of
the bounded intervals and how many PGR sets were unbounded. Simulations are
described in ``sandwich.metrics.coverage``. Replaced intervals (the two-level
bootstrap over seeds, the items-only human interval) and the alternatives
considered (Fieller over items for one seed, the plain crossed bootstrap) are
measured too. 2000 replications take several CPU-minutes; ``--quick`` skips the
slowest (human, 20 raters) rows.
"""

from __future__ import annotations

import sys
import time
import warnings

from sandwich.metrics.coverage import (
    Coverage,
    HumanScenario,
    JudgeScenario,
    PGRScenario,
    cell_bootstrap,
    crossed_closed,
    gap_closed_coverage,
    group_coverage,
    human_sandwich_coverage,
    items_fieller,
    legacy_items_only,
    legacy_two_level_bootstrap,
    pgr_coverage,
    plain_pigeonhole,
)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n_rep = int(args[0]) if args else 2000
    quick = "--quick" in sys.argv
    start = time.perf_counter()
    rows: list[Coverage] = []

    def emit(c: Coverage) -> None:
        rows.append(c)
        print(c.line(), flush=True)

    print(f"{'interval':<34} {'scenario':<44} coverage ± MC SE  (n_rep={n_rep})")
    for n in (100, 200, 400):
        s = PGRScenario(n_items=n)
        for c in group_coverage(
            s, n_rep, 1, cell_bootstrap(1000), "PGR one seed (bootstrap)", "cell"
        ):
            emit(c)
        emit(pgr_coverage(s, n_rep, 1, items_fieller, "PGR one seed (Fieller/items)"))
    for k in (3, 5, 10):
        for sd in (0.0, 0.03, 0.06):
            for c in group_coverage(PGRScenario(n_seeds=k, seed_sd=sd), n_rep, 2):
                emit(c)
    for k in (3, 5, 10):
        for sd in (0.0, 0.03):
            s = PGRScenario(n_seeds=k, seed_sd=sd)
            emit(
                pgr_coverage(
                    s, n_rep, 2, legacy_two_level_bootstrap(1000), "PGR old two-level boot"
                )
            )
    for n in (50, 100, 200, 400):
        emit(gap_closed_coverage(JudgeScenario(n_items=n), n_rep, 4))
    human = [
        HumanScenario(),
        HumanScenario(raters=5, labels_per_item=5),
        HumanScenario(rater_sd=0.0),
        HumanScenario(rater_sd=0.3),
    ]
    if not quick:
        human.append(HumanScenario(raters=20, labels_per_item=2, n_items=200))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for h in human:
            emit(human_sandwich_coverage(h, n_rep, 9, interval=crossed_closed))
            emit(
                human_sandwich_coverage(
                    h, n_rep, 9, 500, plain_pigeonhole, "human plain pigeonhole"
                )
            )
            emit(
                human_sandwich_coverage(h, n_rep, 9, 500, legacy_items_only, "human old items-only")
            )
    print(f"{len(rows)} rows in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
