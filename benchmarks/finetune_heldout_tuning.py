"""Choose a fine-tuning config's training settings on held-out part of B, never on T.

Run:  python benchmarks/finetune_heldout_tuning.py [--config configs/finetune-demo.yaml]

For the config's first task and seed and its first ``finetune`` elicitor, the
strong model is fine-tuned (``xent``, the final weights: ``select: last``) on
B's gold labels minus a held-out 20% of B (the same split the elicitor's
``select: weak`` would hold out), once per candidate setting, and scored on
that held-out 20% (gold accuracy and soft cross-entropy). T is never read.
The settings that score best there are the ones to ship; both the student and
its ceiling then use them (docs/finetune.md, "Choosing the settings").
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from sandwich.elicit.finetune import FineTuneElicitor
from sandwich.elicit.probe import holdout_split, soft_log_loss
from sandwich.metrics import accuracy
from sandwich.runs import load_config
from sandwich.runs.context import RunContext
from sandwich.store import ArtifactStore

CANDIDATES: dict[str, dict[str, Any]] = {
    "batch 32, lr 5e-4, 1 epoch (8 steps)": {"batch_size": 32, "lr": 5e-4, "epochs": 1},
    "batch 8, lr 1e-3, 1 epoch (32 steps)": {"batch_size": 8, "lr": 1e-3, "epochs": 1},
    "batch 8, lr 1e-3, 2 epochs (64 steps)": {"batch_size": 8, "lr": 1e-3, "epochs": 2},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/finetune-demo.yaml")
    parser.add_argument("--only", nargs="*", help="candidate names (default: all)")
    args = parser.parse_args()
    cfg = load_config(args.config)
    ctx = RunContext(cfg, ArtifactStore(), progress=False)
    task_cfg, seed, strong = cfg.tasks[0], cfg.seeds[0], cfg.strong[0]
    base = next(dict(e.params) for e in cfg.elicitors if e.name == "finetune")
    splits = ctx.splits(task_cfg, seed)
    texts = ctx.task(task_cfg).texts(splits.train_strong)
    gold = ctx.task(task_cfg).labels(splits.train_strong).astype(np.float64)
    fit_idx, val_idx = holdout_split(len(texts), 0.2, seed)
    model = ctx.features.model(strong)
    print(f"{args.config}: {strong}, B {len(texts)} = fit {len(fit_idx)} + held out "
          f"{len(val_idx)}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for name, setting in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        params = {**base, **setting, "select": "last", "loss": "xent", "loss_params": {}}
        params.pop("chain", None)
        t0 = time.perf_counter()
        ft = FineTuneElicitor(**params).fit_text(
            [model], [texts[i] for i in fit_idx], gold[fit_idx], random_state=seed
        )
        p = ft.predict_proba_text([texts[i] for i in val_idx])
        print(f"{name}: held-out B accuracy {accuracy(gold[val_idx], p):.3f}, "
              f"soft CE {soft_log_loss(gold[val_idx], p):.3f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
