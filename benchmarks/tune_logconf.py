"""Choose probe-logconf's lr and epochs on held-out data, never on T.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tune_logconf.py [CONFIG]
(default configs/demo.yaml; its features must be cached or they are computed).

For every (weak supervisor, seed) of the config's first task and strong model,
each grid point trains ``probe-logconf`` (and its aux-weight-0 control) on the
supervisor's labels of B, exactly as a run does, and scores it against the
*gold labels of A*: the items the weak supervisor was trained on, which the
student never sees and which are disjoint from T. T is not read. Prints the
mean accuracy on A per grid point (and, for information, the mean held-out
weak-label cross-entropy the probe's own epoch selection uses).
"""

from __future__ import annotations

import itertools
import sys

import numpy as np

from sandwich.elicit import LogConfProbe
from sandwich.metrics import accuracy
from sandwich.runs import load_config
from sandwich.runs.context import RunContext
from sandwich.runs.features import TaskSource
from sandwich.runs.plan import plan_cells
from sandwich.runs.w2s.data import CellData, build_supervisor
from sandwich.runs.w2s.stages import supervisor_labels
from sandwich.store import ArtifactStore

LRS = (3e-4, 1e-3, 3e-3, 1e-2)
EPOCHS = (10, 20, 40)
AUX = (0.75, 0.0)


def main() -> None:
    config = load_config(sys.argv[1] if len(sys.argv) > 1 else "configs/demo.yaml")
    ctx = RunContext(config, ArtifactStore(), progress=False)
    task_cfg, strong = config.tasks[0], config.strong[0]
    cells = [c for c in plan_cells(config) if c.task == task_cfg and c.strong == strong]
    cells = list({(c.weak.display, c.seed): c for c in cells}.values())
    task = ctx.task(task_cfg)
    source = TaskSource(ctx.features, task)
    scores: dict[tuple[float, float, int], list[float]] = {}
    val: dict[tuple[float, float, int], list[float]] = {}
    for cell in cells:
        splits = ctx.splits(task_cfg, cell.seed)
        data = CellData.build(ctx, cell)
        weak_b = supervisor_labels(ctx, data, build_supervisor(cell.weak))["train_strong"]
        x_b = source(strong, splits.train_strong)
        x_a, y_a = source(strong, splits.train_weak), task.labels(splits.train_weak)
        for aux, lr, epochs in itertools.product(AUX, LRS, EPOCHS):
            probe = LogConfProbe(aux_weight=aux, lr=lr, epochs=epochs)
            probe.fit(x_b, weak_b, random_state=cell.seed)
            key = (aux, lr, epochs)
            scores.setdefault(key, []).append(accuracy(y_a, probe.predict_proba(x_a)))
            val.setdefault(key, []).append(min(probe.val_losses_))
        print(f"done {cell.weak.display} seed {cell.seed}", file=sys.stderr, flush=True)
    print(f"{task_cfg.label}, strong {strong}, {len(cells)} (weak, seed) cells")
    print(f"{'aux':>5} {'lr':>7} {'epochs':>6} {'acc on A (gold)':>16} {'weak val CE':>12}")
    for key in sorted(scores):
        aux, lr, epochs = key
        acc, ce = float(np.mean(scores[key])), float(np.mean(val[key]))
        print(f"{aux:>5} {lr:>7g} {epochs:>6} {acc:>16.4f} {ce:>12.4f}")


if __name__ == "__main__":
    main()
