"""GFLOP/s of a model's linear shapes: torch's default matmul vs oneDNN-packed weights,
float32 and bfloat16, side by side.

Run (one command):

    python benchmarks/linear_kernels.py                 # gemma3-270m's shapes, 320 and 1280 rows
    python benchmarks/linear_kernels.py --hidden 576 --inter 1536 --q 576 --kv 192

For every projection of a decoder block (q, k/v, o, gate/up, down) and each number of
rows (tokens per call: float32's default batch of 32 statements x ~10 tokens, and
bfloat16's 128), the median wall time of ``F.linear`` (torch's default CPU matmul:
a BLAS sgemm in float32, oneDNN with a per-call weight reorder in bfloat16) and of
``torch.ops.mkldnn._linear_pointwise`` on a weight packed once
(:mod:`sandwich.models.prepack`), as GFLOP/s, and the bf16 / fp32 ratio of each
kernel. What it answers: how far each dtype's default matmul is from its packed one,
and the bf16 / fp32 ratio when both run at their best (the ceiling of bfloat16's
end-to-end gain, since the other ops do not get faster in bf16). The load average
is printed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F


def median_seconds(fn: Callable[[], Any], n: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=640)
    parser.add_argument("--inter", type=int, default=2048, help="MLP width")
    parser.add_argument("--q", type=int, default=1024, help="query projection width")
    parser.add_argument("--kv", type=int, default=256, help="key/value projection width")
    parser.add_argument("--rows", default="320,1280", help="tokens per call, comma-separated")
    parser.add_argument("--n", type=int, default=40, help="timed calls per cell (median)")
    args = parser.parse_args()
    h = args.hidden
    shapes = {"q": (h, args.q), "k/v": (h, args.kv), "o": (args.q, h),
              "gate/up": (h, args.inter), "down": (args.inter, h)}  # fmt: skip
    mk = torch.ops.mkldnn
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; GFLOP/s, median "
          f"of {args.n}\n")  # fmt: skip
    print("| rows | linear | fp32 default | fp32 packed | bf16 default | bf16 packed "
          "| bf16/fp32 default | bf16/fp32 packed |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    totals = {k: 0.0 for k in ("f32", "f32p", "b16", "b16p")}
    for rows in (int(r) for r in args.rows.split(",")):
        for name, (k, n) in shapes.items():
            gf: dict[str, float] = {}
            for tag, dtype in (("f32", torch.float32), ("b16", torch.bfloat16)):
                x, w = torch.randn(rows, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
                packed = mk._reorder_linear_weight(w, rows)
                flops = 2 * rows * k * n
                with torch.inference_mode():
                    t = median_seconds(partial(F.linear, x, w), args.n)
                    tp = median_seconds(
                        partial(mk._linear_pointwise, x, packed, None, "none", [], ""), args.n
                    )
                gf[tag], gf[tag + "p"] = flops / t / 1e9, flops / tp / 1e9
                totals[tag] += t
                totals[tag + "p"] += tp
            print(f"| {rows} | {name} {k}->{n} | {gf['f32']:.0f} | {gf['f32p']:.0f} "
                  f"| {gf['b16']:.0f} | {gf['b16p']:.0f} | {gf['b16'] / gf['f32']:.2f} "
                  f"| {gf['b16p'] / gf['f32p']:.2f} |")  # fmt: skip
    print(f"\nall shapes, summed time: fp32 packed {totals['f32'] / totals['f32p']:.2f}x "
          f"default, bf16 packed {totals['b16'] / totals['b16p']:.2f}x default; bf16/fp32 "
          f"{totals['f32'] / totals['b16']:.2f}x default, {totals['f32p'] / totals['b16p']:.2f}x "
          f"packed; load {os.getloadavg()[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
