"""Gold-reward spread of a policy's sampled completions on the built-in preference tasks.

Usage: OMP_NUM_THREADS=2 PYTHONPATH=src .venv/bin/python benchmarks/reward_gold_spread.py
       [--model smollm2-135m] [--prompts 40] [--samples 8] [--temperature 1.0] [--tokens 8]
       [--variants geo geo-shots geo-shots-pool2000 geo-chat arith arith-shots]

For each variant (:data:`VARIANTS`: the task's parameters and the prompt format) samples
``samples`` completions for each of ``prompts`` prompts (seed 0; a fresh response
cache in a temporary directory, so every number is a cold generation) and
prints: the fraction of completions with gold 1.0, 0.5 (geo) or in (0, 1)
(arith), and 0.0; the mean gold; the fraction of prompts whose completions do not
all have the same gold (what a comparison can learn from); the seconds taken and
the load average. A reward model needs spread: if nearly every completion scores 0
the preferences are mostly gold ties.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from sandwich.models.generation import generator_config, make_generator
from sandwich.rewards.data import load_reward_task, sample_completions

VARIANTS: dict[str, tuple[str, dict[str, object], str]] = {
    "geo": ("geo-prefs", {"shots": False, "pool": 80}, "plain"),
    "geo-shots": ("geo-prefs", {"shots": True, "pool": 80}, "plain"),
    "geo-shots-pool2000": ("geo-prefs", {"shots": True, "pool": 2000}, "plain"),
    "geo-chat": ("geo-prefs", {"shots": False, "pool": 80}, "chat"),
    "arith": ("arith-prefs", {"shots": False}, "plain"),
    "arith-shots": ("arith-prefs", {"shots": True}, "plain"),
}
"""label -> (task, task params, prompt format)."""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--tokens", type=int, default=8, help="max_new_tokens per completion")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args()
    print(f"{'variant':<20}{'=1':>7}{'mid':>7}{'=0':>7}{'mean':>7}{'spread':>8}{'s':>7}  load")
    with tempfile.TemporaryDirectory() as tmp:
        for label in args.variants:
            task, params, fmt = VARIANTS[label]
            prompts, gold = load_reward_task(task, args.prompts, 0, params=params)
            cfg = generator_config(
                backend="local",
                model=args.model,
                prompt_format=fmt,
                batch_size=64,
                cache_path=Path(tmp) / f"{label}.sqlite",
            )
            gen = make_generator(cfg)
            start = time.perf_counter()
            ps = sample_completions(
                gen,
                prompts,
                n=args.samples,
                seed=0,
                max_new_tokens=args.tokens,
                temperature=args.temperature,
                gold=gold,
                name=label,
            )
            secs = time.perf_counter() - start
            g = np.array([p.golds() for p in ps.prompts])
            one, zero = float((g == 1.0).mean()), float((g == 0.0).mean())
            mid = 1.0 - one - zero
            spread = float((g.max(axis=1) > g.min(axis=1)).mean())
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(
                f"{label:<20}{one:>7.3f}{mid:>7.3f}{zero:>7.3f}{g.mean():>7.3f}{spread:>8.3f}"
                f"{secs:>7.0f}  {load}",
                flush=True,
            )
            first = ps.prompts[0]
            print(f"    e.g. {first.prompt[-40:]!r} -> {[c.text for c in first.completions[:3]]}")


if __name__ == "__main__":
    main()
