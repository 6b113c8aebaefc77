"""How close ``sandwich plan``'s time estimates come to measured runs, config by config.

Run (one command; every config on a cold store of its own):

    python benchmarks/plan_accuracy.py --target     # demo, debate-demo, nonexpert-errors
    python benchmarks/plan_accuracy.py configs/demo.yaml configs/finetune-demo.yaml ...
    python benchmarks/plan_accuracy.py --runnable        # every shipped config runnable here
    python benchmarks/plan_accuracy.py configs/debate-demo.yaml --max-items 8   # fewer items

``--target`` is the planner's target (BENCHMARKS.md "Planner estimates vs
measured runs"): expected to take 10-15 minutes on an idle 2-core machine
(GGUF conversions included; not timed idle yet).

For each config: a fresh temporary store (so the run starts cold: GGUF
conversion, features, every stage), into which this machine's throughput
measurement is copied (it is measured once, before the first config, and not
counted); then ``sandwich plan`` (the estimate) and ``sandwich run`` in a
child process, with every cell timed by a timing executor. Printed per
config: estimated vs measured seconds for the shared work (``prepare``: every
stage the cells share, e.g. features, model conversion, the reward kind's samples,
contrast pairs), the cells, and the whole run, the ratio
measured / estimated, and the 1-minute load average before, during (mean of
samples every 10 s) and after. The throughput is measured on the machine as it
is when the command starts: run it on an otherwise idle machine (on a loaded
one both the measurement and the runs slow down, by amounts that vary with the
other work).
Configs with at most 12 cells also print every cell (a protocol per cell in
debate-demo). ``--max-items N`` caps the items of every protocol cell (a
config's ``max_items``; w2s configs are unchanged). ``--warm STORE`` links
that store's features and converted models into each fresh store, so only the
cells run (for a loaded machine, where a cold ``prepare`` takes half an hour):
the plan then sees them stored and leaves them out too. ``--json FILE`` writes every
number, with the plan's estimate per stage (``by_stage``), the throughput it used, and
when each artifact was stored, in seconds from the run's start (``stored_at``, by
artifact kind: splits ``prepare`` into its stages). The target: the ratio within [0.5, 2].

The configs added with the newer kinds (BENCHMARKS.md "Planner estimates vs measured
runs: the newer configs"), one at a time, cheapest first:

    python benchmarks/plan_accuracy.py configs/honesty.yaml --json honesty.json
    python benchmarks/plan_accuracy.py configs/demo-controls.yaml --json demo-controls.json
    python benchmarks/plan_accuracy.py configs/truth-probes.yaml --json truth.json
    python benchmarks/plan_accuracy.py configs/sandbagging.yaml --json sandbagging.json
    python benchmarks/plan_accuracy.py configs/reporters.yaml --json reporters.json
    python benchmarks/plan_accuracy.py configs/reward-demo.yaml --json reward.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sandwich.runs.executor import LocalExecutor

ROOT = Path(__file__).resolve().parents[1]
# not runnable here: finetune-gpu needs the Qwen2.5 hub models and a GPU-sized budget;
# debate-openai needs two OpenAI-compatible servers (both are planned only)
PLAN_ONLY = {"finetune-gpu.yaml", "debate-openai.yaml"}
# the configs the estimates are held to within 2x (--target)
TARGET = ("demo.yaml", "debate-demo.yaml", "nonexpert-errors.yaml")


class TimingExecutor(LocalExecutor):
    """Runs cells in order like the local executor and records each one's wall time."""

    def __init__(self) -> None:
        super().__init__(progress=False)
        self.seconds: list[float] = []
        self.started: float | None = None

    def map(self, fn: Callable[[Any], Any], cells: Sequence[Any]) -> Iterator[Any]:
        self.started = time.perf_counter()
        for cell in cells:
            t0 = time.perf_counter()
            out = fn(cell)
            self.seconds.append(time.perf_counter() - t0)
            yield out


def child(config_path: str, out_path: str, max_items: str = "0") -> None:
    """In a fresh process (``SANDWICH_HOME`` is the cold store): plan, then run, timed."""
    from sandwich.runs import load_config, run
    from sandwich.runs.planning import make_plan

    config = load_config(config_path)
    if int(max_items):
        config = config.model_copy(update={"max_items": int(max_items)})
    plan = make_plan(config)
    # the same plan with every forward at float32's default-linear rate (the cost model
    # before forward rates per kernel): the one factor changed, against the same run
    flat = make_plan(config, throughput=_flat(plan.throughput)) if plan.throughput else None
    ex = TimingExecutor()
    t0, wall0 = time.perf_counter(), time.time()
    with tempfile.TemporaryDirectory() as runs:
        run(config, runs_root=runs, executor=ex, progress=False)
    total = time.perf_counter() - t0
    cells = sum(ex.seconds)
    prepare = (ex.started or t0) - t0
    est_cells: dict[int, float] = {}
    labels = {r.cell: r.label for r in plan.rows if r.cell is not None}
    for r in plan.missing:
        if r.cell is not None and r.seconds is not None:
            est_cells[r.cell] = est_cells.get(r.cell, 0.0) + r.seconds
    # the shared stages (features, a kind's samples or contrast pairs) run before the cells
    est_shared = sum(r.seconds or 0.0 for r in plan.missing if r.cell is None)
    result = {
        "config": config_path,
        "n_cells": plan.n_cells,
        "planned_in": plan.seconds_to_plan,
        "estimate": {
            "prepare": est_shared,
            "cells": sum(est_cells.values()),
            "total": plan.total_seconds,
        },
        "measured": {"prepare": prepare, "cells": cells, "total": total},
        "estimate_one_forward_rate": None
        if flat is None
        else {
            "prepare": sum(r.seconds or 0.0 for r in flat.missing if r.cell is None),
            "total": flat.total_seconds,
        },
        "per_cell": [
            {
                "cell": i,
                "label": labels.get(i, ""),
                "estimate": est_cells.get(i, 0.0),
                "measured": s,
            }
            for i, s in enumerate(ex.seconds)
        ],
        "max_items": int(max_items) or None,
        "by_stage": _by_stage(plan),
        "stored_at": _stored_at(wall0),
        "throughput": plan.throughput,
        "feature_kernels": plan.feature_kernels,
    }
    Path(out_path).write_text(json.dumps(result, indent=1))


def _flat(throughput: dict[str, Any]) -> Any:
    from sandwich.runs.cost import Throughput

    return Throughput(**{**throughput, "forward_rates": {}})


def _by_stage(plan: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in plan.rows:
        out[r.stage] = out.get(r.stage, 0.0) + (r.seconds or 0.0)
    return out


def _stored_at(wall0: float) -> dict[str, list[float]]:
    """Seconds from the run's start at which each artifact of each kind was stored (its
    directory's time): splits ``prepare`` into its stages (conversion, samples, features)."""
    from sandwich.store import ArtifactStore

    root = ArtifactStore().root / "artifacts"
    out: dict[str, list[float]] = {}
    for path in sorted(root.glob("*/*/*")):
        out.setdefault(path.parent.parent.name, []).append(path.stat().st_mtime - wall0)
    return {k: sorted(round(t, 1) for t in v) for k, v in out.items()}


def load() -> float:
    return os.getloadavg()[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("configs", nargs="*", help="config files")
    ap.add_argument("--runnable", action="store_true", help="every shipped config runnable here")
    ap.add_argument("--target", action="store_true", help=f"the target configs: {TARGET}")
    ap.add_argument("--json", type=Path, help="write all numbers here")
    ap.add_argument("--max-items", type=int, default=0, help="cap every protocol cell's items")
    ap.add_argument("--warm", type=Path, help="reuse this store's features and conversions")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    configs = [Path(c) for c in args.configs]
    if args.runnable:
        configs += [p for p in sorted((ROOT / "configs").glob("*.yaml")) if p.name not in PLAN_ONLY]
    if args.target:
        configs += [ROOT / "configs" / name for name in TARGET]
    if not configs:
        ap.error("give config files, --target or --runnable")
    from sandwich.runs.cost import machine_throughput
    from sandwich.store import ArtifactStore

    with tempfile.TemporaryDirectory(prefix="plan-accuracy-") as tmp:
        machine = ArtifactStore(Path(tmp) / "machine-store")
        t0 = time.perf_counter()
        tp = machine_throughput(machine)
        print(f"throughput measured in {time.perf_counter() - t0:.1f} s: "
              f"forward {tp.forward_flops / 1e9:.1f} GFLOP/s, train {tp.train_flops / 1e9:.1f}, "
              f"decode step {tp.decode_step * 1e3:.2f} ms + {tp.decode_layer * 1e3:.3f} ms/block"
              f" + {tp.decode_param * 1e12:.0f} ps/weight + {tp.decode_param_row * 1e12:.0f}"
              f" ps/weight/sequence, probe {tp.probe_unit * 1e9:.0f} ns/row/feature"
              f" (load avg {load():.2f})")  # fmt: skip
        print("forward by kernel: " + ", ".join(
            f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in tp.forward_rates.items()))  # fmt: skip
        results = []
        for cfg in configs:
            home = Path(tmp) / cfg.stem
            shutil.copytree(machine.root / "machine", home / "machine")
            if args.warm:
                (home / "artifacts").mkdir(parents=True)
                for kind in ("features", "converted-model"):
                    if (args.warm / "artifacts" / kind).is_dir():
                        (home / "artifacts" / kind).symlink_to(args.warm / "artifacts" / kind)
            out = Path(tmp) / f"{cfg.stem}.json"
            env = {**os.environ, "SANDWICH_HOME": str(home)}
            before = load()
            cmd = [sys.executable, __file__, "--child", str(cfg), str(out), str(args.max_items)]
            proc = subprocess.Popen(cmd, env=env)
            samples = []
            while proc.poll() is None:  # the 1-minute load average every 10 s of the run
                samples.append(load())
                time.sleep(10)
            if proc.returncode:
                print(f"{cfg}: failed (exit {proc.returncode})")
                continue
            res = json.loads(out.read_text())
            res["load_before"], res["load_after"] = before, load()
            res["load_mean"] = sum(samples) / max(1, len(samples))
            res["cores"] = os.cpu_count()
            results.append(res)
            _print(res)
            shutil.rmtree(home, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def _print(res: dict[str, Any]) -> None:
    e, m = res["estimate"], res["measured"]

    def ratio(k: str) -> str:
        return f"{m[k] / e[k]:.2f}" if e.get(k) else "-"

    print(f"{res['config']}: {res['n_cells']} cells, planned in {res['planned_in']:.2f} s, "
          f"load avg {res['load_before']:.2f} -> {res['load_after']:.2f}, "
          f"mean {res['load_mean']:.2f} on {res['cores']} cores")  # fmt: skip
    for k in ("prepare", "cells", "total"):
        print(f"  {k:8s} estimate {e[k] or 0:8.1f} s  measured {m[k]:8.1f} s  "
              f"measured/estimate {ratio(k)}")  # fmt: skip
    if res.get("feature_kernels"):
        print("  features costed in: " + ", ".join(
            f"{m} {k}" for m, k in sorted(res["feature_kernels"].items())))  # fmt: skip
    if flat := res.get("estimate_one_forward_rate"):
        for k in ("prepare", "total"):
            r = f"{m[k] / flat[k]:.2f}" if flat[k] else "-"
            print(f"  {k:8s} with every forward at float32's default-linear rate: estimate "
                  f"{flat[k]:8.1f} s  measured/estimate {r}")  # fmt: skip
    if res["n_cells"] <= 12:
        for c in res["per_cell"]:
            r = f"{c['measured'] / c['estimate']:.2f}" if c["estimate"] else "-"
            print(f"    cell {c['cell']}: {c['label'][:60]:60s} estimate {c['estimate']:7.1f} s"
                  f"  measured {c['measured']:7.1f} s  measured/estimate {r}")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
