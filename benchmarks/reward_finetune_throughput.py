"""Fine-tuned reward model throughput: pairs per second, LoRA and full, on an embedded model.

Run (one command; the integrator re-runs it on an idle machine):

    python benchmarks/reward_finetune_throughput.py                # smollm2-135m, 64 pairs, 1 epoch
    python benchmarks/reward_finetune_throughput.py --threads 1    # on a shared, loaded CPU
    python benchmarks/reward_finetune_throughput.py --trl          # + TRL's RewardTrainer rows

Pairs are the packaged cities statements: a true one ("The city of Moscow is in
Russia.") against a false one of another city, in a random order, P(a
preferred) = 1 when a is the true one. Each row trains a fresh reward model
(``sandwich.rewards.finetuned.train_reward_model``: the model with a
zero-initialised scalar head, soft Bradley-Terry loss, ``minibatch_size:
auto``, ``mixed_precision: auto`` unless given) on ``--pairs`` pairs for
``--epochs`` epochs, then scores ``--heldout`` other pairs. The model is
converted into the store and the mixed-precision choice measured before the
first row, so neither is timed.

Columns: wall seconds of ``train_reward_model`` (the backbone's fresh copy, the
tokenisation and the training), pairs/s = pairs x epochs / those seconds, the
same in texts/s (two texts a pair), the process's CPU seconds over that call,
the pairs per forward pass (``auto`` resolved), the precision used, the mean
training loss over the last 4 optimizer steps (log 2 = 0.693 at the start),
the held-out pairwise accuracy (a sanity check, not a result: one seed, few
pairs) and the 1-minute load average before and after the row: on a shared
machine the absolute numbers move with it.

``--trl`` adds a ``trl-<mode>`` row per mode: TRL's ``RewardTrainer`` on the
same pairs as (chosen, rejected), the same base weights (the converted
model's directory, loaded as ``AutoModelForSequenceClassification`` with
``num_labels=1``: its score head is random, not zero), the same epochs, batch,
learning rate (the auto rule's value), cosine schedule, ``max_length``
(TRL *drops* longer pairs instead of truncating; the row says how many it
kept), fp32, LoRA r 8 / alpha 16 on the same modules (peft's table) with the
score head trained. Its wall and CPU seconds cover ``trainer.train()`` only
(the model's loading and the dataset's tokenisation are not timed, unlike
ours); its last loss is TRL's logged mean over the last step; no held-out
accuracy.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np


def cities_pairs(n: int, seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """``n`` pairs (true statement, false statement) in a random order, from the cities task."""
    from sandwich.tasks import load_task

    items = list(load_task("cities", n_items=4 * n + 40, seed=seed).items)
    true = [it.text for it in items if it.label]
    false = [it.text for it in items if not it.label]
    rng = np.random.default_rng(seed)
    a, b, pref = [], [], []
    for t, f in zip(true[:n], false[:n], strict=True):
        if rng.integers(2):
            a.append(t), b.append(f), pref.append(1.0)
        else:
            a.append(f), b.append(t), pref.append(0.0)
    if len(pref) < n:
        raise SystemExit(f"only {len(pref)} pairs available, asked for {n}")
    return a, b, np.array(pref)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--modes", nargs="+", default=["lora", "full"], choices=["lora", "full"])
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--heldout", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--mixed-precision", default="auto", choices=["auto", "no", "bf16"])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--trl", action="store_true", help="add TRL RewardTrainer rows")
    args = ap.parse_args()

    from sandwich.elicit.finetune.elicitor import default_mixed_precision
    from sandwich.models import load_model
    from sandwich.rewards.finetuned import FineTunedRMParams, train_reward_model

    pairs = cities_pairs(args.pairs + args.heldout, seed=0)
    fit = [x[: args.pairs] for x in pairs]
    held = [x[args.pairs :] for x in pairs]
    model = load_model(args.model)
    model.training_backbone()  # converts an embedded model into the store once (not timed)
    if args.mixed_precision == "auto":
        default_mixed_precision(int(model.hidden_size))  # measured once per machine (not timed)
    print(f"model {args.model}, {args.pairs} pairs x {args.epochs} epoch(s), batch "
          f"{args.batch_size} pairs, max_length {args.max_length}, threads "
          f"{args.threads or 'torch default'}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")  # fmt: skip
    print("| mode | wall s | pairs/s | texts/s | CPU s | pairs/pass | precision | last loss "
          "| held-out acc | load before -> after |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode in args.modes:
        params = FineTunedRMParams(
            mode=mode,
            epochs=args.epochs,
            batch_size=args.batch_size,
            max_length=args.max_length,
            mixed_precision=args.mixed_precision,
            num_threads=args.threads,
        )
        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), cpu_seconds()
        rm = train_reward_model(model, fit[0], fit[1], fit[2], params, seed=0)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        load1 = os.getloadavg()[0]
        q = rm.prob(held[0], held[1])
        acc = float(np.mean((q > 0.5) == (held[2] > 0.5)))
        losses = rm.train_summary["losses"]
        steps = max(1, len(losses) // max(1, rm.train_summary["steps"]))
        last = float(np.mean(losses[-4 * steps :]))
        n = args.pairs * args.epochs
        print(f"| {mode} | {wall:.1f} | {n / wall:.2f} | {2 * n / wall:.2f} | {cpu:.1f} "
              f"| {rm.resolved['minibatch_size']} | {rm.resolved['mixed_precision']} | {last:.3f} "
              f"| {acc:.3f} | {load0:.1f} -> {load1:.1f} |", flush=True)  # fmt: skip
        lr = float(rm.resolved["lr"])
        del rm
        if args.trl:  # the same learning rate as the row above
            trl_row(model, mode, fit, args, lr=lr)


def trl_row(model: object, mode: str, fit: list, args: argparse.Namespace, lr: float) -> None:
    """TRL's RewardTrainer on the same pairs (module docstring, ``--trl``)."""
    import tempfile

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from sandwich.elicit.finetune.classifier import lora_targets

    a, b, pref = fit
    chosen = [x if p > 0.5 else y for x, y, p in zip(a, b, pref, strict=True)]
    rejected = [y if p > 0.5 else x for x, y, p in zip(a, b, pref, strict=True)]
    directory = str(model.directory)  # type: ignore[attr-defined]
    tok = AutoTokenizer.from_pretrained(directory)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if args.threads:
        torch.set_num_threads(args.threads)
    net = AutoModelForSequenceClassification.from_pretrained(
        directory, num_labels=1, dtype=torch.float32
    )
    net.config.pad_token_id = tok.pad_token_id
    peft = None
    if mode == "lora":
        targets = lora_targets(net.base_model)
        peft = LoraConfig(r=8, lora_alpha=16, target_modules=targets, task_type="SEQ_CLS")
    with tempfile.TemporaryDirectory() as out:
        cfg = RewardConfig(
            output_dir=out, per_device_train_batch_size=args.batch_size,
            num_train_epochs=args.epochs, learning_rate=lr, lr_scheduler_type="cosine",
            max_length=args.max_length, report_to=[], logging_steps=1, save_strategy="no",
            use_cpu=True, bf16=False, seed=0, disable_tqdm=True,
        )  # fmt: skip
        trainer = RewardTrainer(
            model=net, args=cfg, train_dataset=Dataset.from_dict(
                {"chosen": chosen, "rejected": rejected}
            ), processing_class=tok, peft_config=peft,
        )  # fmt: skip
        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), cpu_seconds()
        trainer.train()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        load1 = os.getloadavg()[0]
    kept = len(trainer.train_dataset)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    n = kept * args.epochs
    print(f"| trl-{mode} ({kept} pairs kept) | {wall:.1f} | {n / wall:.2f} | {2 * n / wall:.2f} "
          f"| {cpu:.1f} | {args.batch_size} | no | {float(losses[-1]):.3f} | - "
          f"| {load0:.1f} -> {load1:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
