"""One LoRA training step (forward + backward, 8 statements) with 1 and with 2 torch threads.

Run:  python benchmarks/train_step_threads.py [--model gemma3-270m] [--reps 3]
      python benchmarks/train_step_threads.py --attention   # flash vs math attention

Prints the seconds of each repetition per thread count, and the load average,
since the point is how a shared CPU treats torch's parallel regions.

``--attention``: forward + backward of ``scaled_dot_product_attention`` alone
(8 sequences, 9 query and 3 key/value heads of 64, causal: smollm2-135m's
shapes) with torch's CPU flash kernel and with the math path, fp32 and bf16,
at 16 to 1024 tokens, one thread: where the training loop's ``short_attention``
switch (math up to 64 tokens) comes from.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--attention", action="store_true", help="SDPA flash vs math only")
    args = parser.parse_args()
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
