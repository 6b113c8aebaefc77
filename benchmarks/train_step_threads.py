"""One LoRA training step (forward + backward, 8 statements) with 1 and with 2 torch threads.

Run:  python benchmarks/train_step_threads.py [--model gemma3-270m] [--reps 3]
      python benchmarks/train_step_threads.py --attention   # flash vs math attention
      python benchmarks/train_step_threads.py --matmul      # fp32 vs bf16 linear layers

Prints the seconds of each repetition per thread count, and the load average,
since the point is how a shared CPU treats torch's parallel regions.

``--attention``: forward + backward of ``scaled_dot_product_attention`` alone
(8 sequences, 9 query and 3 key/value heads of 64, causal: smollm2-135m's
shapes) with torch's CPU flash kernel and with the math path, fp32 and bf16,
at 16 to 1024 tokens, one thread: where the training loop's ``short_attention``
switch (math up to 64 tokens) comes from.

``--matmul``: GFLOP/s of ``F.linear`` in fp32, in bf16 autocast from fp32
weights (a cast per call) and with bf16 weights, at smollm2-135m's training
shapes (72 and 288 token rows x 576 -> 576 / 1536) and at 1024^3, one thread:
the bound on what bf16 can gain in a training step.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from sandwich.elicit.finetune.classifier import build_classifier
from sandwich.elicit.finetune.data import encode
from sandwich.elicit.finetune.losses import xent
from sandwich.models import load_model


def attention(reps: int) -> None:
    """Milliseconds per forward + backward of SDPA, flash vs math (module docstring)."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.1f}; ms per forward + backward, 1 thread")
    for dtype in (torch.float32, torch.bfloat16):
        for length in (16, 64, 256, 1024):
            times = {}
            for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.MATH):
                q = torch.randn(8, 9, length, 64, dtype=dtype, requires_grad=True)
                kv = [torch.randn(8, 3, length, 64, dtype=dtype, requires_grad=True)] * 2
                with sdpa_kernel(backend):
                    for i in range(reps + 1):
                        if i == 1:  # the first is a warm-up
                            t0 = time.perf_counter()
                        F.scaled_dot_product_attention(q, *kv, is_causal=True, enable_gqa=True
                                                       ).sum().backward()  # fmt: skip
                times[backend.name] = (time.perf_counter() - t0) / reps * 1e3
            print(f"{str(dtype)[6:]:8} {length:5} tokens: flash {times['FLASH_ATTENTION']:7.1f} "
                  f"math {times['MATH']:7.1f}")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def matmul(reps: int) -> None:
    """GFLOP/s of one linear layer, fp32 vs bf16 (module docstring)."""
    import torch.nn.functional as F

    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.1f}; GFLOP/s of F.linear, 1 thread")
    for m, k, n in ((72, 576, 576), (72, 576, 1536), (288, 576, 1536), (1024, 1024, 1024)):
        x, w = torch.randn(m, k), torch.randn(n, k)
        wb = w.bfloat16()
        runs = {
            "fp32": lambda x=x, w=w: F.linear(x, w),
            "autocast": lambda x=x, w=w: F.linear(x, w),
            "bf16 weights": lambda x=x, wb=wb: F.linear(x, wb),
        }
        out = []
        for name, fn in runs.items():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name != "fp32"):
                fn()
                t0 = time.perf_counter()
                for _ in range(reps * 10):
                    fn()
            out.append(
                f"{name} {2 * m * k * n * reps * 10 / (time.perf_counter() - t0) / 1e9:6.1f}"
            )
        print(f"{m:5} x {k} -> {n:5}: " + ", ".join(out))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--attention", action="store_true", help="SDPA flash vs math only")
    parser.add_argument("--matmul", action="store_true", help="fp32 vs bf16 linear only")
    args = parser.parse_args()
    if args.matmul:
        matmul(args.reps)
        return
    if args.attention:
        attention(args.reps)
        return
    model = load_model(args.model, progress=False)
    parts = model.training_backbone()  # type: ignore[attr-defined]
    clf = build_classifier(parts.module, model.hidden_size, pooling="last", mode="lora")
    texts = [f"The city of Paris{i} is in France." for i in range(8)]
    batch = encode(parts.tokenizer, texts, 32).batch(list(range(8)))
    print(f"model {args.model}; load average {os.getloadavg()[0]:.1f}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            logits = clf(batch["input_ids"], batch["attention_mask"])
            xent(logits, torch.ones(8)).backward()
            times.append(time.perf_counter() - t0)
        print(f"threads {threads}: step seconds " + ", ".join(f"{t:.1f}" for t in times))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
