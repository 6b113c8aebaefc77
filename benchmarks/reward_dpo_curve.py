"""The reward kind's ``dpo:`` block end to end on a tiny random Llama: the logged curve.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reward_dpo_curve.py [max_steps]

The config of ``tests/runs/reward/test_reward_dpo.py`` (arith-prefs, 30 prompts,
a 2-layer random Llama as policy and strong model) with the gold and the
non-expert supervisors and ``max_steps`` DPO steps (default 8), evaluated every
2 steps: prints, per supervisor, step, KL to the initial policy, mean proxy and
gold reward of the evaluation samples, the fitted gold form, the wall time and
the load average. A random policy's answers are not numbers, so gold barely
moves: this shows the machinery (KL grows from 0, the proxy is recorded), not
over-optimisation; that needs a real policy (docs/rewards.md, "RL against the proxy").
"""

from __future__ import annotations

import ast
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sandwich.runs import parse_config, run
from sandwich.runs.executor import LocalExecutor
from sandwich.store import ArtifactStore

TEST = Path(__file__).resolve().parents[1] / "tests/runs/reward/test_reward_finetuned_kind.py"


def tiny_llama(directory: Path) -> Path:
    """The test's tiny random Llama (its function, read from the test file)."""
    fn = next(n for n in ast.parse(TEST.read_text()).body if getattr(n, "name", "") == "tiny_llama")
    scope: dict[str, Any] = {"Path": Path}
    exec(compile(ast.Module([fn], []), str(TEST), "exec"), scope)
    path: Path = scope["tiny_llama"](directory)
    return path


def main(max_steps: int) -> None:
    import torch

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="sandwich-dpo-curve-"))
    llama = str(tiny_llama(tmp / "llama"))
    section = {
        "task": {"name": "arith-prefs", "n_prompts": 30, "params": {"ops": "+"}},
        "policy": {"backend": "local", "model": llama, "prompt_format": "plain"},
        "strong": [llama],
        "supervisors": ["gold", "nonexpert"],
        "sampling": {"max_new_tokens": 3},
        "comparisons": {"samples": 3, "per_prompt": 3},
        "bon": {"n": 4},
        "dpo": {"max_steps": max_steps, "batch_size": 2, "eval_samples": 2, "eval_every": 2,
                "max_new_tokens": 3, "max_length": 48, "lr": 1e-2, "prompt_format": "plain"},
    }  # fmt: skip
    cfg = parse_config(
        {"name": "rwdpo", "seeds": [0], "bootstrap": {"n_boot": 100}, "reward": section}
    )
    start = time.perf_counter()
    out = run(cfg, runs_root=tmp / "runs", store=ArtifactStore(tmp / "store"), progress=False,
              executor=LocalExecutor(progress=False))  # fmt: skip
    wall = time.perf_counter() - start
    for row in out.results.cells_of("reward"):
        print(f"{row.supervisor}: gao_dpo_gold {row.gao_dpo_gold}")
        for s in row.dpo:
            print(f"  step {s.step:3d}  kl {s.kl:8.4f}  proxy {s.proxy:8.4f}  gold {s.gold:8.4f}")
    print(f"wall {wall:.1f} s, load average {os.getloadavg()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
