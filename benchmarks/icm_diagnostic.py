"""Does ICM's objective prefer the true labels on a model's features, and does its search find them?

Run:  python benchmarks/icm_diagnostic.py [--config configs/reporters.yaml] [--seeds 0,1,2]
      [--ridge 1.0]

For each strong model of the config and each seed, on the cell's B split (the
strong model's contrast-pair features, read from the store like a run's): ICM
(``icm`` with ``sign: oracle``) searches its labels; printed per cell:

- ``found~gold``: agreement of ICM's labels of the searched items with gold, up to
  the sign (max of a and 1 - a; 0.5 is chance);
- ``U found`` / ``U gold``: the objective (alpha * mutual predictability; no pair
  is inconsistent in either) of ICM's labels and of the gold labels on the same
  claims. ``U gold`` above ``U found``: the search missed a better labelling;
  below: the objective itself prefers something other than truth;
- ``held-out acc found`` / ``gold``: share of claims whose held-out probe prediction
  (from every other claim, its partner left out) matches the label;
- ``T acc``: the reporter's accuracy on T (oracle sign), as in the run's icm-oracle row.

Prints the 1-minute load average next to the time.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from sandwich.elicit import ELICITORS
from sandwich.elicit.reporters.icm import ICMReporter
from sandwich.metrics import accuracy
from sandwich.runs import load_config
from sandwich.runs.context import RunContext
from sandwich.runs.plan import W2SCell
from sandwich.runs.w2s.data import CellData
from sandwich.store import ArtifactStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/reporters.yaml")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--ridge", type=float, default=1.0, help="the probe's ridge penalty")
    args = ap.parse_args()
    cfg = load_config(args.config)
    ctx = RunContext(cfg, ArtifactStore(), progress=False)
    task, weak, probe = cfg.tasks[0], cfg.weak[0], cfg.elicitors[0]
    print(f"ridge {args.ridge}")
    print(f"{'strong':13} {'seed':>4} {'found~gold':>10} {'U found':>8} {'U gold':>8} "
          f"{'held-out acc found':>18} {'gold':>5} {'T acc':>6} {'s':>5}")  # fmt: skip
    for strong in cfg.strong:
        for seed in (int(s) for s in args.seeds.split(",")):
            cell = W2SCell(task=task, weak=weak, strong=strong, elicitor=probe, seed=seed)
            data = CellData.build(ctx, cell)
            pos, neg = data.contrast_features("train_strong")
            gold = data.gold("train_strong")
            t0 = time.perf_counter()
            rep = ELICITORS.build("icm", sign="oracle", ridge=args.ridge).fit(
                np.hstack([pos, neg]), gold, seed
            )
            secs = time.perf_counter() - t0
            assert isinstance(rep, ICMReporter)
            m = len(rep.items_)
            found = rep.claim_labels_[:m].astype(float)
            g = gold[rep.items_]
            agree = float(np.mean(found == g))
            u_found, acc_found = rep.coherence(found)
            u_gold, acc_gold = rep.coherence(g)
            t_acc = accuracy(data.gold("test"), rep.predict_proba(np.hstack(
                data.contrast_features("test"))))  # fmt: skip
            print(f"{strong:13} {seed:4d} {max(agree, 1 - agree):10.3f} {u_found:8.2f} "
                  f"{u_gold:8.2f} {acc_found:18.3f} {acc_gold:5.3f} {t_acc:6.3f} "
                  f"{secs:5.1f}", flush=True)  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
