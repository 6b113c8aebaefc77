"""One LoRA training step (forward + backward, 8 statements) with 1 and with 2 torch threads.

Run:  python benchmarks/train_step_threads.py [--model gemma3-270m] [--reps 3]
      python benchmarks/train_step_threads.py --attention   # flash vs math attention
      python benchmarks/train_step_threads.py --matmul      # fp32 vs bf16 linear layers
      python benchmarks/train_step_threads.py --passes --model smollm2-135m   # 4 x 8 vs 1 x 32
      python benchmarks/train_step_threads.py --compile --model smollm2-135m  # torch.compile

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

``--passes``: CPU seconds of the forward + backward passes of one optimizer
step of 32 statements run as 4 x 8, 2 x 16 and 1 x 32 items (what
``minibatch_size: auto`` changes), full and LoRA, fp32 and bf16 autocast (the
frozen weights in bf16 and the math attention, as the training loop runs
bf16), one thread, the mean of ``--reps`` after a warm-up.

``--compile``: the same step, 1 x 32, LoRA in bf16 (``--modes`` to change),
eager and under ``torch.compile`` (inductor): the first step's CPU seconds
(the compilation) and the steady step's.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

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


def _step_setup(model_name: str, mode: str, precision: str) -> Any:
    """A classifier on ``model_name`` in ``mode`` (bf16: frozen weights cast once), and a
    function running one 32-item step's forward + backward passes in minibatches of ``mb``."""
    import sys
    from pathlib import Path

    from torch.nn.attention import SDPBackend, sdpa_kernel

    from sandwich.elicit.finetune.frozen import FrozenBf16

    sys.path.insert(0, str(Path(__file__).parent))
    from features import statements

    model = load_model(model_name, progress=False)
    parts = model.training_backbone()  # type: ignore[attr-defined]
    torch.manual_seed(0)
    clf = build_classifier(parts.module, model.hidden_size, pooling="last", mode=mode)  # type: ignore[arg-type]
    torch.nn.init.normal_(clf.head.weight, std=0.02)  # a zero head passes no gradient down
    texts, labels = statements(32)
    data = encode(parts.tokenizer, texts, 64)
    order = sorted(range(32), key=lambda i: len(data.ids[i]))  # as bucket_lengths sorts
    y = torch.as_tensor(labels, dtype=torch.float32)
    bf16 = precision == "bf16"
    if bf16 and mode != "full":
        FrozenBf16(clf)
    kernels = [SDPBackend.MATH] if bf16 else [SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]

    def step(net: torch.nn.Module, mb: int) -> None:
        for start in range(0, 32, mb):
            rows = order[start : start + mb]
            batch = data.batch(rows)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16), sdpa_kernel(kernels):
                logits = net(batch["input_ids"], batch["attention_mask"])
            (xent(logits.float(), y[rows]) * len(rows) / 32).backward()
        for p in clf.parameters():
            p.grad = None

    return clf, step


def passes(model_name: str, modes: str, reps: int) -> None:
    """CPU seconds per 32-item step as 4 x 8, 2 x 16, 1 x 32 (module docstring)."""
    torch.set_num_threads(1)
    print(f"model {model_name}; load average {os.getloadavg()[0]:.1f}; CPU s per step, 1 thread")
    for mode in modes.split(","):
        for precision in ("fp32", "bf16"):
            clf, step = _step_setup(model_name, mode, precision)
            out = []
            for mb in (8, 16, 32):
                step(clf, mb)  # warm-up
                c0 = time.process_time()
                for _ in range(reps):
                    step(clf, mb)
                out.append(f"{32 // mb} x {mb:2} {(time.process_time() - c0) / reps:6.3f}")
            print(f"{mode:4} {precision}: " + ", ".join(out) + f" (load {os.getloadavg()[0]:.1f})",
                  flush=True)  # fmt: skip


def compiled(model_name: str, modes: str, reps: int) -> None:
    """First (compiling) and steady step, eager vs torch.compile (module docstring)."""
    torch.set_num_threads(1)
    print(f"model {model_name}; load average {os.getloadavg()[0]:.1f}; 1 x 32 items, 1 thread")
    for mode in modes.split(","):
        clf, step = _step_setup(model_name, mode, "bf16")
        for name, net in (("eager", clf), ("torch.compile", torch.compile(clf))):
            c0, t0 = time.process_time(), time.perf_counter()
            step(net, 32)
            first, first_wall = time.process_time() - c0, time.perf_counter() - t0
            c0 = time.process_time()
            for _ in range(reps):
                step(net, 32)
            print(f"{mode} bf16 {name}: first step {first:.1f} CPU s ({first_wall:.1f} s wall), "
                  f"then {(time.process_time() - c0) / reps:.3f} CPU s a step "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--attention", action="store_true", help="SDPA flash vs math only")
    parser.add_argument("--matmul", action="store_true", help="fp32 vs bf16 linear only")
    parser.add_argument("--passes", action="store_true", help="4 x 8 vs 1 x 32 items a step")
    parser.add_argument("--compile", action="store_true", help="eager vs torch.compile")
    parser.add_argument("--modes", default="full,lora", help="--passes/--compile: modes")
    args = parser.parse_args()
    if args.passes:
        passes(args.model, args.modes, args.reps)
        return
    if args.compile:
        compiled(args.model, "lora" if args.modes == "full,lora" else args.modes, args.reps)
        return
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
