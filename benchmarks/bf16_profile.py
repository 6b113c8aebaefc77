"""Where a forward pass's time goes in float32 and in bfloat16 (torch's CPU profiler).

Run (one command):

    python benchmarks/bf16_profile.py                      # gemma3-270m, 64 statements
    python benchmarks/bf16_profile.py --model smollm2-135m --n 32

For each dtype: the wall time of one full forward pass of the backbone over ``--n``
statements (best of ``--repeats``, after a warm-up), the share of it spent in
matrix products (``aten::mm`` / ``aten::addmm`` / ``aten::bmm``) and the ops
outside them, and the profiler's top ops by self CPU time. What it answers: how
much of bf16's end-to-end speed-up the matrix products give, and what the
elementwise ops, the dtype conversions (``aten::copy_``: e.g. norms computed in
float32) and attention take back. The load average is printed with each row.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch.profiler import ProfilerActivity, profile

from sandwich.models import load_model

MATMUL = ("aten::mm", "aten::addmm", "aten::bmm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--n", type=int, default=64, help="statements in the batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top", type=int, default=8, help="ops listed per dtype")
    args = parser.parse_args()
    model = load_model(args.model)
    texts = [f"The city of Town{i} is in Country{i % 7}." for i in range(args.n)]
    enc = model.tokenizer()(texts, return_tensors="pt", padding=True)  # type: ignore[attr-defined]
    print(f"{args.model}: {args.n} statements of up to {enc['input_ids'].shape[1]} tokens; "
          f"torch threads {torch.get_num_threads()}\n")  # fmt: skip
    base = None
    for dtype in ("float32", "bfloat16"):
        module = model.module(dtype)  # type: ignore[attr-defined]
        with torch.inference_mode():
            module(**enc)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                module(**enc)
                times.append(time.perf_counter() - t0)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                module(**enc)
        ops = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in ops) / 1e3
        mm = sum(e.self_cpu_time_total for e in ops if e.key in MATMUL) / 1e3
        best = min(times)
        base = base or best
        print(f"{dtype:9} forward {best * 1e3:7.0f} ms ({base / best:.2f}x float32); profiled "
              f"{total:.0f} ms: matmul {mm:.0f} ms, other ops {total - mm:.0f} ms; "
              f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
        for e in sorted(ops, key=lambda e: -e.self_cpu_time_total)[: args.top]:
            print(f"    {e.key:52} {e.self_cpu_time_total / 1e3:8.1f} ms  {e.count:5d} calls")
        print()


if __name__ == "__main__":
    main()
