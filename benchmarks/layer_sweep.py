"""Probe accuracy by layer: which depth of a model knows the task best.

Usage: .venv/bin/python benchmarks/layer_sweep.py MODEL [TASK] [N_ITEMS] [POOLING]
e.g.   .venv/bin/python benchmarks/layer_sweep.py gemma3-270m cities 1500 last

For every block output it trains the `probe` elicitor on the gold labels of A
and of B (split seed 0, 0.3/0.4/0.3) and prints its accuracy on T, and, as the
held-out criterion for *choosing* a layer (never T), the B-trained probe's
accuracy on A's gold labels.
"""

from __future__ import annotations

import sys

import numpy as np

from sandwich.elicit import LogisticProbe
from sandwich.metrics import accuracy
from sandwich.models import FeatureSpec, load_model
from sandwich.tasks import SplitSizes, load_task


def main() -> None:
    name = sys.argv[1]
    task_name = sys.argv[2] if len(sys.argv) > 2 else "cities"
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1500
    pooling = sys.argv[4] if len(sys.argv) > 4 else "last"
    task = load_task(task_name, n_items=n)
    splits = task.split(0, SplitSizes(0.3, 0.4, 0.3))
    model = load_model(name)
    layers = tuple(range(1, model.num_layers + 1))
    x = model.features(task.texts(), FeatureSpec(layers=layers, pooling=pooling))  # type: ignore[arg-type]
    row = {it.id: i for i, it in enumerate(task.items)}

    def rows(items: list) -> np.ndarray:  # type: ignore[type-arg]
        return np.array([row[it.id] for it in items])

    a, b, t = rows(splits.train_weak), rows(splits.train_strong), rows(splits.test)
    y = task.labels()
    print(f"{name} on {task_name} ({n} items, {pooling} pooling): probe accuracy on T")
    print(f"{'layer':>8}{'A-trained':>12}{'B-trained':>12}{'B->A (choose)':>15}")
    for j, layer in enumerate(layers):
        accs = []
        for train, score in ((a, t), (b, t), (b, a)):
            probe = LogisticProbe().fit(x[train, j], y[train].astype(float))
            accs.append(accuracy(y[score], probe.predict_proba(x[score, j])))
        print(f"{layer:>5}/{model.num_layers:<2}{accs[0]:>12.3f}{accs[1]:>12.3f}{accs[2]:>15.3f}")


if __name__ == "__main__":
    main()
