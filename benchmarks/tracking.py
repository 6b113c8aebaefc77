"""What tracking adds to a run: the same warm run with tracking none, mlflow, wandb offline.

Usage: .venv/bin/python benchmarks/tracking.py [CONFIG.yaml]

Without a config it runs FAKE: the demo's shape (2 weak x 1 strong x 2
elicitors x 10 seeds = 40 cells, 4 groups) on the fake model backend, so the
cold fill takes a minute rather than the demo's model conversions.

Each line is one ``sandwich run`` in a fresh process on a warm artifact store
(the cells come from the cache, so the difference is the tracker: importing
it, opening its store, logging the cells, groups and report). ``mlflow (new
store)`` includes creating the SQLite store's tables; ``mlflow (rerun)`` is
the same config logged again to it (updating its runs). The load average is
printed next to every number.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

FAKE = {
    "name": "tracking-bench",
    "task": {"name": "arithmetic", "n_items": 600},
    "weak": ["fake-weak", "fake-mid"],
    "strong": ["fake-strong"],
    "elicitors": ["probe", "probe-logconf"],
    "seeds": list(range(10)),
    "bootstrap": {"n_boot": 200},
}


def timed_run(config: Path, home: str, runs: str) -> float:
    env = {**os.environ, "SANDWICH_HOME": home, "WANDB_MODE": "offline"}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sandwich", "run", str(config), "--runs", runs, "-q"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def with_tracking(config: Path | None, tracking: object, out: Path) -> Path:
    data = FAKE if config is None else yaml.safe_load(config.read_text())
    out.write_text(yaml.safe_dump({**data, "tracking": tracking}))
    return out


def main() -> None:
    config = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory() as tmp:
        home, runs = f"{tmp}/home", f"{tmp}/runs"
        timed_run(with_tracking(config, "none", Path(tmp) / "c.yaml"), home, runs)  # fill
        cases = [
            ("none", "none"),
            ("mlflow (new store)", "mlflow"),
            ("mlflow (rerun)", "mlflow"),
            ("wandb offline", {"name": "wandb", "mode": "offline"}),
        ]
        print(f"config: {config or 'FAKE (40 cells, 4 groups, fake backend)'}")
        for label, tracking in cases:
            path = with_tracking(config, tracking, Path(tmp) / "c.yaml")
            seconds = timed_run(path, home, runs)
            load = os.getloadavg()[0]
            print(f"tracking {label:20s} {seconds:6.1f} s   (load average {load:.2f})")


if __name__ == "__main__":
    main()
