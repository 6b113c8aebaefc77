"""Seconds per GRPO step of a policy against a toy proxy on this machine (CPU by default).

Run:  python benchmarks/rl_step.py [--model smollm2-135m] [--prompts 8] [--generations 4]
                                   [--tokens 16] [--steps 4] [--full] [--threads 1]

Runs ``--steps`` GRPO steps (LoRA unless ``--full``; beta 0.05) of ``--prompts``
prompts x ``--generations`` completions x ``--tokens`` new tokens each and prints
the wall seconds of every step (the first includes warm-up), the mean of the
others, the load average, and the KL / proxy per step. The model is converted
into the default store on first use (not timed in the steps).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from collections.abc import Sequence

from sandwich.rewards.rl import RLParams, run_policy_rl

CITIES = ["Chengdu", "Lyon", "Porto", "Munich", "Osaka", "Quito", "Perth", "Lagos", "Bergen",
          "Cusco", "Hue", "Fez", "Graz", "Turin", "Kobe", "Cork"]  # fmt: skip


def proxy(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
    return [float(len(set(c.lower().split()))) for c in completions]  # toy: distinct words


def gold(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
    return [-float(len(c)) for c in completions]  # toy: shorter is better


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--full", action="store_true", help="train every weight (default: LoRA)")
    a = ap.parse_args()
    prompts = [f"The city of {c} is in" for c in CITIES[: a.prompts]]
    cfg = RLParams(
        steps=a.steps, batch_size=a.prompts, num_generations=a.generations,
        max_new_tokens=a.tokens, lora=not a.full, num_threads=a.threads,
    )  # fmt: skip
    t0 = time.perf_counter()
    steps = run_policy_rl(a.model, prompts, proxy, gold, cfg)
    total = time.perf_counter() - t0
    times = [steps[0].seconds] + [b.seconds - s.seconds for s, b in itertools.pairwise(steps)]
    print(f"{a.model}: {a.prompts} prompts x {a.generations} generations x {a.tokens} tokens, "
          f"{'full' if a.full else 'LoRA'}, {a.threads} thread(s), mixed precision "
          f"{cfg.mixed_precision}")  # fmt: skip
    for s, t in zip(steps, times, strict=True):
        print(f"  step {s.step}: {t:6.1f} s  kl {s.kl:.4f}  proxy {s.proxy:.3f}  gold {s.gold:.2f}")
    later = times[1:] or times
    print(f"mean s/step (after the first): {statistics.fmean(later):.1f}; whole run {total:.1f} s "
          f"(load, conversion, imports); load average {os.getloadavg()}")  # fmt: skip


if __name__ == "__main__":
    main()
