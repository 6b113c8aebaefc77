"""One LoRA training step (forward + backward, 8 statements) with 1 and with 2 torch threads.

Run:  python benchmarks/train_step_threads.py [--model gemma3-270m] [--reps 3]

Prints the seconds of each repetition per thread count, and the load average,
since the point is how a shared CPU treats torch's parallel regions.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
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
