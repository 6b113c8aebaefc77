"""Peak memory (RSS) of what a worker runs, on CPU: a feature extraction per embedded
model, and a probe cell whose features are already in the store (docs/scale.md).

One command (re-run it on an idle machine; every number is one process's peak):

    PYTHONPATH=src python benchmarks/stage_memory.py --items 300 --models-from ~/.cache/sandwich

Each measurement runs in a fresh Python process (``ru_maxrss`` is a process's
peak), over one shared temporary store: first each model's features of the
``cities`` task (``--items`` items), then one w2s cell (weak minilm-l6 -> strong
gemma3-270m, probe) run the way a Ray worker runs it (``run_shipped``). The
import baseline (sandwich, torch) is printed for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = ("minilm-l6", "smollm2-135m", "gemma3-270m")


def _config(items: int) -> dict[str, Any]:
    return {
        "name": "mem",
        "task": {"name": "cities", "n_items": items},
        "seeds": [0],
        "weak": ["minilm-l6"],
        "strong": ["gemma3-270m"],
        "elicitors": ["probe"],
        "bootstrap": {"n_boot": 1000},
    }


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(what: str, arg: str, items: int, store: str) -> dict[str, Any]:
    from sandwich.runs import parse_config
    from sandwich.runs.context import RunContext
    from sandwich.store import ArtifactStore

    cfg = parse_config(_config(items))
    base = _peak_mib()
    start = time.perf_counter()
    if what == "load":
        ctx = RunContext(cfg, ArtifactStore(store), progress=False)
        ctx.features.model(arg)
    elif what == "features":
        ctx = RunContext(cfg, ArtifactStore(store), progress=False)
        ctx.features.table(arg, ctx.task(cfg.tasks[0]))
    elif what == "cell":
        from sandwich.runs.plan import plan_cells
        from sandwich.runs.ray_executor import run_shipped

        cell = plan_cells(cfg)[0]
        run_shipped(cfg.document(), cell.model_dump(mode="json"), store)
    seconds = round(time.perf_counter() - start, 1)
    return {"what": what, "arg": arg, "items": items, "import_mib": round(base),
            "peak_mib": round(_peak_mib()), "seconds": seconds}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--child", nargs=2, metavar=("WHAT", "ARG"))
    ap.add_argument("--store")
    ap.add_argument("--models-from", help="a store whose converted models to copy first")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.items, args.store)))
        return
    print(f"load average {os.getloadavg()[0]:.2f}, torch threads: OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', '(unset)')}")  # fmt: skip
    with tempfile.TemporaryDirectory() as store:
        jobs = [("features", m) for m in MODELS] + [("cell", "probe")]
        converted = (
            Path(args.models_from or "/nonexistent").expanduser() / "artifacts" / "converted-model"
        )
        if converted.is_dir():
            shutil.copytree(converted, Path(store) / "artifacts" / "converted-model")
        else:
            jobs = [("load", m) for m in MODELS] + jobs
        for what, arg in jobs:
            cmd = [sys.executable, __file__, "--child", what, arg, "--items", str(args.items),
                   "--store", store]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{what:9s} {arg:13s} items {row['items']:5d}  peak RSS {row['peak_mib']:6d} MiB"
                  f"  (after imports {row['import_mib']} MiB)  {row['seconds']:6.1f} s"
                  f"  load {os.getloadavg()[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
