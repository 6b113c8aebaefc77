"""Whole-demo time: cold (empty artifact store) vs warm (second run), one run each.

Usage: .venv/bin/python benchmarks/demo_time.py [configs/demo.yaml]

Cold includes GGUF conversion and feature extraction; warm should be little
more than process start, model fingerprints, probe fitting and the report.
Environment set-up (venv + pip) is measured separately in BENCHMARKS.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(config: str, home: str, runs: str) -> float:
    env = {**os.environ, "SANDWICH_HOME": home}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sandwich", "run", config, "--runs", runs, "-q"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    config = sys.argv[1] if len(sys.argv) > 1 else "configs/demo.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        home, runs = str(Path(tmp) / "home"), str(Path(tmp) / "runs")
        cold = timed_run(config, home, runs)
        warm = timed_run(config, home, runs)
    print(f"{'config':<22}{'cold s':>10}{'warm s':>10}{'cold/warm':>12}")
    print(f"{config:<22}{cold:>10.1f}{warm:>10.1f}{cold / warm:>12.1f}")


if __name__ == "__main__":
    main()
