"""Fine-tuning throughput: sandwich's training loop vs a plain PyTorch loop, same model and data.

Run:  python benchmarks/train_throughput.py [--model gemma3-270m] [--n 128] [--store DIR]

Every row trains a fresh copy of the backbone with a zero-initialised head for
one epoch over the same ``--n`` statements ("The city of X is in Y.") in
minibatches of 8, AdamW, soft-label cross-entropy:

- plain: a hand-written PyTorch loop (tokenizer padding, forward, backward,
  ``optimizer.step()``); no accelerate, no accumulation, no checkpoints;
- ours: ``sandwich.elicit.finetune.train.train`` (accelerate, accumulation to a
  batch of 32, checkpoints every 10 steps into a temp dir, cosine schedule).

Both in fp32; ours also once in bf16 autocast (``--n-bf16`` items) because the
CPU default was chosen from that comparison. Modes: LoRA (r=8 on q/v) and full.

Memory: RSS sampled every 5 ms during training (``/proc/self/statm``); "peak"
is the largest sample, "train delta" that minus the RSS just before training.
tracemalloc would miss torch's allocations.

Achieved GFLOP/s = 6 x (backbone matmul weights) x (real tokens) / s, the usual
training estimate (forward 2N, backward 4N per token); embeddings do no matmul
and are left out. LoRA does not compute the frozen weights' gradients (~4N, not
6N), so its "% peak" understates the work done. Peak: torch.matmul fp32
2048^3, the method of benchmarks/features.py.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from features import linear_params, matmul_peak, statements
from sandwich.elicit.finetune.classifier import build_classifier
from sandwich.elicit.finetune.data import encode
from sandwich.elicit.finetune.losses import xent
from sandwich.elicit.finetune.train import TrainSettings, train
from sandwich.models import load_model
from sandwich.models.hf import HFModel
from sandwich.store import ArtifactStore

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@contextmanager
def rss_peak() -> Iterator[dict[str, int]]:
    """Sample RSS every 5 ms while the block runs: {"before", "peak"} in bytes."""
    out = {"before": rss(), "peak": rss()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            out["peak"] = max(out["peak"], rss())

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield out
    finally:
        stop.set()
        t.join()
        out["peak"] = max(out["peak"], rss())


@dataclass
class Row:
    name: str
    seconds: float
    items: int
    tokens: int
    flops: float
    peak: int
    delta: int


def plain_loop(clf: torch.nn.Module, tok: Any, texts: list[str], y: np.ndarray, lr: float) -> int:
    """The baseline: what one writes by hand. Returns the real tokens seen."""
    tok.padding_side = "right"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    opt = torch.optim.AdamW([p for p in clf.parameters() if p.requires_grad], lr=lr)
    clf.train()
    tokens = 0
    for start in range(0, len(texts), 8):
        enc = tok(texts[start : start + 8], padding=True, truncation=True, max_length=64,
                  return_tensors="pt")  # fmt: skip
        tokens += int(enc["attention_mask"].sum())
        logits = clf(enc["input_ids"], enc["attention_mask"])
        target = torch.as_tensor(y[start : start + 8], dtype=torch.float32)
        loss = xent(logits, target)
        loss.backward()
        opt.step()
        opt.zero_grad()
    return tokens


def fresh(model: HFModel, mode: str) -> Any:
    torch.manual_seed(0)
    parts = model.training_backbone()
    return build_classifier(parts.module, model.hidden_size, pooling="last", mode=mode)  # type: ignore[arg-type]


def measure(name: str, n: int, work: Callable[[], int], matmul: int) -> Row:
    with rss_peak() as mem:
        t0 = time.perf_counter()
        tokens = work()
        s = time.perf_counter() - t0
    return Row(name, s, n, tokens, 6 * matmul * tokens, mem["peak"], mem["peak"] - mem["before"])


def print_row(r: Row, plain: Row, peak: float) -> None:
    ratio = (r.tokens / r.seconds) / (plain.tokens / plain.seconds)
    gf = r.flops / r.seconds / 1e9
    print(f"| {r.name:32} | {r.items:5} | {r.items / r.seconds:7.2f} "
          f"| {r.tokens / r.seconds:8.1f} | {ratio:6.2f}x | {gf:12.1f} | {gf / peak:6.0%} "
          f"| {r.peak / 2**30:6.2f} GiB | {r.delta / 2**30:8.2f} GiB |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--n-bf16", type=int, default=32)
    parser.add_argument("--modes", default="lora,full")
    parser.add_argument("--store", default=None, help="artifact store (default $SANDWICH_HOME)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model = load_model(args.model, store=ArtifactStore(args.store), progress=False)
    assert isinstance(model, HFModel), "benchmark needs a transformers-backed model"
    texts, labels = statements(args.n)
    y = labels.astype(np.float64)
    tok = model.tokenizer()
    matmul = linear_params(model.training_backbone().module)
    peak = matmul_peak(torch.float32)
    real = sum(len(x) for x in tok(texts)["input_ids"])
    print(f"model {args.model}: {matmul / 1e6:.1f}M params in backbone matmuls; {args.n} "
          f"statements, {real} real tokens ({real / args.n:.1f}/item); torch threads "
          f"{torch.get_num_threads()}; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"matmul peak: fp32 (2048^3) {peak:.1f} GFLOP/s\n")
    head = (f"| {'loop':32} | items | items/s | tokens/s | x plain | GFLOP/s (6N) | % peak "
            "| peak RSS | train delta |")  # fmt: skip
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")
    for mode in args.modes.split(","):
        lr = 5e-4 if mode == "lora" else 5e-5
        work = functools.partial(plain_loop, fresh(model, mode), tok, texts, y, lr)
        plain = measure(f"plain PyTorch loop, {mode}, fp32", args.n, work, matmul)
        print_row(plain, plain, peak)
        del work
        for mp, n in (("no", args.n), ("bf16", args.n_bf16)):
            clf = fresh(model, mode)
            data = encode(tok, texts[:n], 64)
            settings = TrainSettings(
                epochs=1,
                lr=lr,
                batch_size=32,
                minibatch_size=8,
                mixed_precision=mp,
                checkpoint_every=10,
            )  # type: ignore[arg-type]

            def ours(clf: Any = clf, data: Any = data, settings: Any = settings, n: int = n) -> int:
                with tempfile.TemporaryDirectory() as ckpt:
                    res = train(clf, data, y[:n], xent, settings, seed=0,
                                checkpoint_dir=Path(ckpt))  # fmt: skip
                return res.tokens

            label = "fp32" if mp == "no" else "bf16 autocast"
            print_row(measure(f"ours, {mode}, {label}", n, ours, matmul), plain, peak)
            del clf
    print(
        f"\nload average after: {os.getloadavg()[0]:.1f}; "
        f"steps of ours per epoch: {math.ceil(args.n / 32)} (batch 32 = 4 x 8)"
    )


if __name__ == "__main__":
    main()
