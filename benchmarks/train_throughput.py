"""Fine-tuning throughput: sandwich's training loop vs a plain PyTorch loop, same model and data.

Run (one command; the integrator re-runs it on an idle machine):

    python benchmarks/train_throughput.py                # gemma3-270m, 128 items, 2 epochs
    python benchmarks/train_throughput.py --quick        # smollm2-135m, 32 items: < 2 min

Every row trains a fresh copy of the backbone with a zero-initialised head, in
its own fresh process (so no row inherits another's heap or allocator
settings), for ``--epochs`` epochs over the same ``--n`` statements ("The city
of X is in Y.") in the same shuffled order: optimizer steps of 32 items as 4
accumulated minibatches of 8, AdamW, soft-label cross-entropy. Then it predicts
``--heldout`` other statements.

- plain: what one writes by hand in PyTorch: the tokenizer pads each minibatch
  to its longest item, forward, ``(loss / 4).backward()``, ``optimizer.step()``
  and ``zero_grad()`` every 4 minibatches; ``torch.optim.AdamW`` with its
  defaults and the same cosine decay of the lr as ours (``LambdaLR``), fp32,
  glibc's default allocator settings; in ``top`` mode the frozen blocks simply
  have ``requires_grad=False``.
- ours: ``sandwich.elicit.finetune.train.train`` as the ``finetune`` elicitor
  runs it (``minibatch_size: auto``: a step's 32 items in as few forward passes
  as memory allows, the row says how many; ``--ablate auto_minibatch`` adds a
  row with 4 x 8; accelerate, cosine schedule, freed memory kept in the process,
  fused AdamW, minibatches sorted by length within each step, the frozen
  prefix cached in ``top`` mode), in fp32 and in bf16 autocast (with the
  frozen weights cast to bf16 once). No checkpoints (``--checkpoint`` adds one
  every 10 steps into a temp dir, as the elicitor writes with a workdir).

Columns: items/s = items x epochs / training seconds; "x plain" = items/s over
the plain loop's in the same mode; items/CPU-s = items x epochs / the process's
user + system CPU seconds while training, and its "x plain" (steadier than wall
time on a shared machine, and the same on an idle one where the process gets
its cores); "x user": the plain loop's user CPU seconds over the row's (the
same items), without the kernel's time, which on a shared machine moves with
the memory left free (the page faults of the first step's heap growth);
minor page faults per item and the kernel's share of the process's CPU time
(getrusage, training only); peak RSS (sampled every 5 ms); mean train loss
over the last epoch; held-out accuracy against the statements' truth, and
the mean absolute difference between the row's held-out P(true) and the
plain loop's: the "equal results" check (the same items, order, optimizer
and schedule and the same items per step: what remains is float rounding,
fused vs unfused AdamW, the length sorting, one pass vs 4 accumulated ones,
and bf16). The load average is printed with every row: on a shared machine
the absolute numbers move with it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from features import statements

PAGE = os.sysconf("SC_PAGE_SIZE")
MINIBATCH, ACCUMULATE = 8, 4
TOP_K = 2


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """Wall seconds, minor faults, user/system CPU seconds and peak RSS of the block."""
    out: dict[str, float] = {"peak": rss()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            out["peak"] = max(out["peak"], rss())

    t = threading.Thread(target=sample, daemon=True)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    t.start()
    try:
        yield out
    finally:
        stop.set()
        t.join()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        out["seconds"] = time.perf_counter() - t0
        out["faults"] = r1.ru_minflt - r0.ru_minflt
        out["user"] = r1.ru_utime - r0.ru_utime
        out["system"] = r1.ru_stime - r0.ru_stime


def plain_loop(
    clf: torch.nn.Module, tok: Any, texts: list[str], y: np.ndarray, lr: float, epochs: int
) -> list[float]:
    """The baseline: a hand-written loop. Returns the minibatch losses."""
    from sandwich.elicit.finetune.losses import xent

    tok.padding_side = "right"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    opt = torch.optim.AdamW([p for p in clf.parameters() if p.requires_grad], lr=lr)
    total = epochs * -(-len(texts) // (MINIBATCH * ACCUMULATE))  # optimizer steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total))
    )
    clf.train()
    losses = []
    for epoch in range(epochs):
        order = epoch_order(len(texts), epoch)
        for k, start in enumerate(range(0, len(texts), MINIBATCH)):
            rows = order[start : start + MINIBATCH]
            enc = tok([texts[i] for i in rows], padding=True, truncation=True, max_length=64,
                      return_tensors="pt")  # fmt: skip
            logits = clf(enc["input_ids"], enc["attention_mask"])
            loss = xent(logits, torch.as_tensor(y[rows], dtype=torch.float32))
            (loss / ACCUMULATE).backward()
            losses.append(float(loss.detach()))
            if (k + 1) % ACCUMULATE == 0 or start + MINIBATCH >= len(texts):
                opt.step()
                sched.step()
                opt.zero_grad()
    return losses


def epoch_order(n: int, epoch: int, seed: int = 0) -> list[int]:
    """The epoch's item order: the one ``train`` uses (seeded by seed and epoch)."""
    return list(np.random.default_rng([seed, epoch, 31]).permutation(n).tolist())


def run_row(args: argparse.Namespace) -> dict[str, Any]:
    """One row, in this process: build, train (measured), predict the held-out items."""
    from sandwich.elicit.finetune.classifier import build_classifier
    from sandwich.elicit.finetune.data import encode
    from sandwich.elicit.finetune.losses import xent
    from sandwich.elicit.finetune.train import TrainSettings, predict, train
    from sandwich.models import load_model
    from sandwich.models.hf import HFModel
    from sandwich.store import ArtifactStore

    if args.threads:
        torch.set_num_threads(args.threads)
    loop, mode, precision, *off = args.row.split(":")
    model = load_model(args.model, store=ArtifactStore(args.store), progress=False)
    assert isinstance(model, HFModel), "the benchmark needs a transformers-backed model"
    texts, labels = statements(args.n)
    held, held_y = statements(args.heldout, seed=1)
    y = labels.astype(np.float64)
    tok = model.tokenizer()
    torch.manual_seed(0)
    parts = model.training_backbone()
    clf = build_classifier(parts.module, model.hidden_size, pooling="last", mode=mode,  # type: ignore[arg-type]
                           top_k=TOP_K)  # fmt: skip
    lr = 5e-4 if mode == "lora" else 5e-5
    per_epoch = -(-args.n // MINIBATCH)
    data = encode(tok, texts, 64)
    if loop == "plain":
        with measured() as m:
            losses = plain_loop(clf, tok, texts, y, lr, args.epochs)
        passes = f"{ACCUMULATE} x {MINIBATCH}"
    else:
        minibatch: Any = MINIBATCH if "auto_minibatch" in off else "auto"
        settings = TrainSettings(
            epochs=args.epochs, lr=lr, batch_size=MINIBATCH * ACCUMULATE, minibatch_size=minibatch,
            mixed_precision="bf16" if precision == "bf16" else "no", checkpoint_every=10,
            **dict.fromkeys([o for o in off if o != "auto_minibatch"], False),
        )  # fmt: skip
        with measured() as m:
            if args.checkpoint:
                import tempfile

                with tempfile.TemporaryDirectory() as ckpt:
                    res = train(clf, data, y, xent, settings, seed=0, checkpoint_dir=Path(ckpt))
            else:
                res = train(clf, data, y, xent, settings, seed=0)
        losses = res.losses
        passes = f"{ACCUMULATE * MINIBATCH // res.minibatch_size} x {res.minibatch_size}"
        per_epoch = -(-args.n // res.minibatch_size)  # the mean over the epoch's items either way
    p = predict(clf, encode(tok, held, 64))
    items = args.n * args.epochs
    return {
        "row": args.row,
        "items": items,
        "tokens": data.n_tokens() * args.epochs,
        **m,
        "passes": passes,
        "train_loss": float(np.mean(losses[-per_epoch:])),
        "heldout_acc": float(np.mean((p >= 0.5) == held_y)),
        "p": p.tolist(),
        "load": os.getloadavg()[0],
        "threads": torch.get_num_threads(),
    }


def spawn(row: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one row in a fresh process; its JSON result."""
    cmd = [sys.executable, __file__, "--row", row, "--model", args.model, "--n", str(args.n),
           "--epochs", str(args.epochs), "--heldout", str(args.heldout)]  # fmt: skip
    cmd += ["--store", args.store] if args.store else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    cmd += ["--checkpoint"] if args.checkpoint else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def print_row(r: dict[str, Any], plain: dict[str, Any]) -> None:
    loop, mode, precision, *off = r["row"].split(":")
    name = f"{'plain PyTorch loop' if loop == 'plain' else 'ours'}, {mode}, {precision}"
    name += "".join(f", no {o}" for o in off)
    name += f" ({r['passes']})" if loop == "ours" else ""
    ips = r["items"] / r["seconds"]
    ratio = ips / (plain["items"] / plain["seconds"])
    cpu = r["user"] + r["system"]
    per_cpu = r["items"] / cpu
    cpu_ratio = per_cpu / (plain["items"] / (plain["user"] + plain["system"]))
    user_ratio = plain["user"] / max(r["user"], 1e-9)  # the same items: user CPU s, inverted
    diff = np.mean(np.abs(np.array(r["p"]) - np.array(plain["p"])))
    print(f"| {name:40} | {ips:7.2f} | {r['tokens'] / r['seconds']:8.1f} | {ratio:6.2f}x "
          f"| {per_cpu:11.2f} | {cpu_ratio:6.2f}x | {user_ratio:6.2f}x "
          f"| {r['faults'] / r['items']:11.0f} "
          f"| {r['system'] / max(cpu, 1e-9):6.1%} "
          f"| {r['peak'] / 2**30:5.2f} GiB | {r['train_loss']:10.4f} | {r['heldout_acc']:8.1%} "
          f"| {diff:7.4f} | {r['load']:4.1f} |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--n", type=int, default=128, help="training statements")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--heldout", type=int, default=64, help="held-out statements")
    parser.add_argument("--modes", default="full,lora,top")
    parser.add_argument("--precisions", default="fp32,bf16", help="ours: fp32 and/or bf16")
    parser.add_argument("--quick", action="store_true", help="smollm2-135m, 32 items, < 2 min")
    parser.add_argument("--checkpoint", action="store_true", help="ours checkpoints every 10 steps")
    parser.add_argument("--store", default=None, help="artifact store (default $SANDWICH_HOME)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (torch's)")
    parser.add_argument(
        "--ablate",
        default="",
        help="also ours (fp32) with each of these TrainSettings off, e.g. retain_memory,"
        "fused_optimizer,bucket_lengths,cache_frozen,auto_minibatch (4 x 8 passes)",
    )
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)  # one row, in a child
    args = parser.parse_args()
    if args.row:
        print(json.dumps(run_row(args)))
        return
    if args.quick:
        args.model, args.n, args.heldout = "smollm2-135m", 32, 32
    print(f"model {args.model}; {args.n} statements x {args.epochs} epochs, {args.heldout} "
          f"held out; steps of {MINIBATCH * ACCUMULATE} = {ACCUMULATE} x {MINIBATCH}; torch "
          f"threads {args.threads or torch.get_num_threads()}; top mode trains the last "
          f"{TOP_K} blocks; load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    head = (f"| {'loop':40} | items/s | tokens/s | x plain | items/CPU-s | x plain | x user  "
            "| faults/item | kernel "
            "| peak RSS  | train loss | held-out | mean dp | load |")  # fmt: skip
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")
    for mode in args.modes.split(","):
        plain = spawn(f"plain:{mode}:fp32", args)
        print_row(plain, plain)
        for precision in args.precisions.split(","):
            print_row(spawn(f"ours:{mode}:{precision}", args), plain)
        for setting in filter(None, args.ablate.split(",")):
            print_row(spawn(f"ours:{mode}:fp32:{setting}", args), plain)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
