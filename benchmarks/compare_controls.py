"""Run a config and print the paired accuracy difference of chosen elicitor pairs.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compare_controls.py CONFIG METHOD:BASELINE ...
e.g.   ... benchmarks/compare_controls.py configs/demo-controls.yaml \
           probe-logconf:probe probe-logconf:aux0-own-hparams

Prints the run's stored comparisons (each elicitor minus its control) and
then each METHOD:BASELINE pair given, computed the same way
(sandwich.metrics.paired.paired_difference over the run's seeds).
"""

from __future__ import annotations

import sys

from sandwich.metrics.paired import paired_difference
from sandwich.runs import load_config, run


def main() -> None:
    config = load_config(sys.argv[1])
    out = run(config, runs_root="/tmp/sandwich-compare-runs", progress=False)
    cells = {(o.result.weak, o.result.elicitor, o.result.seed): o for o in out.outcomes}
    print(f"run directory: {out.run_dir}")
    print(f"{'weak':<14} {'method':<18} {'baseline':<22} {'diff':>7} {'95% CI':>18}  how")
    rows = [(c.weak, c.method, c.control, c.diff, c.diff_ci, c.interval, c.seed_diffs)
            for c in out.results.comparisons]  # fmt: skip
    for pair in sys.argv[2:]:
        method, baseline = pair.split(":")
        for weak in dict.fromkeys(o.result.weak for o in out.outcomes):
            seeds = [(cells[(weak, method, s)], cells[(weak, baseline, s)]) for s in config.seeds]
            d = paired_difference(
                [(m.y_test, m.p_student, b.p_student) for m, b in seeds],
                n_boot=config.bootstrap.n_boot,
            )
            rows.append((weak, method, baseline, d.diff, (d.low, d.high), d.interval,
                         list(d.seed_diffs)))  # fmt: skip
    for weak, method, baseline, diff, (low, high), how, per_seed in rows:
        ci = f"[{low:+.3f}, {high:+.3f}]"
        seeds = ", ".join(f"{x:+.3f}" for x in per_seed)
        line = f"{weak:<14} {method:<18} {baseline:<22} {diff:+.3f} {ci:>18}  {how}"
        print(f"{line}; per seed {seeds}")
    for g in out.results.groups:
        print(f"{g.weak:<14} {g.elicitor:<22} student acc {g.student_acc:.3f}  PGR {g.pgr:.2f}")


if __name__ == "__main__":
    main()
