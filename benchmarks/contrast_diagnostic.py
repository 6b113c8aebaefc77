"""Is truth in a model's contrast-pair features, and is it what CCS and CRC find?

Run:  python benchmarks/contrast_diagnostic.py [--model smollm2-135m] [--task cities]
      [--n 800] [--layers 0.5,0.75,1.0] [--store DIR]

For the ``--n`` items of ``--task`` and each depth fraction in ``--layers`` (0.5 is
the runs' default), two templates: ``short`` (the built-in one, ``"{statement}
True"`` / ``"{statement} False"``, sandwich.tasks.contrast) and ``question``
(``"Is the following statement true or false? {statement} Answer: True"`` / ``...
False``, Burns et al.'s style; here only). Per (template, layer), on the halves
normalised as the reporters do (each half centred and scaled):

- ``probe(diff)``: 5-fold accuracy of a logistic regression on the differences
  with *gold* labels: is truth linearly there at all?
- ``top PCs``: accuracy of the sign of each of the top 3 principal directions of
  the differences (max of the two signs) and the variance share each explains:
  CRC takes the first;
- ``crc``, ``ccs``: fit on the first half of the items with the oracle sign, accuracy
  on the second half.

Prints the 1-minute load average at the end (the extraction dominates the time).
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from sandwich.elicit import ELICITORS
from sandwich.elicit.reporters.contrast import PairNormaliser
from sandwich.models import load_model
from sandwich.models.hf import HFModel
from sandwich.runs.config import FeatureConfig
from sandwich.runs.features import feature_spec
from sandwich.store import ArtifactStore
from sandwich.tasks import TASKS

TEMPLATES = {
    "short": ("{s} True", "{s} False"),
    "question": (
        "Is the following statement true or false? {s} Answer: True",
        "Is the following statement true or false? {s} Answer: False",
    ),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--task", default="cities")
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--layers", default="0.5,0.75,1.0", help="depth fractions")
    ap.add_argument("--store", default=None, help="artifact store (default: $SANDWICH_HOME)")
    args = ap.parse_args()

    store = ArtifactStore(args.store) if args.store else ArtifactStore()
    model = load_model(args.model, store=store)
    if isinstance(model, HFModel):
        model.progress = False
    fractions = [float(f) for f in args.layers.split(",")]
    layers = tuple(max(1, round(f * model.num_layers)) for f in fractions)
    spec = dataclasses.replace(feature_spec(model, FeatureConfig()), layers=layers)
    task = TASKS.build(args.task, n_items=args.n)
    y = task.labels().astype(np.float64)
    n, half = len(y), len(y) // 2
    print(f"{args.model} on {args.task} ({n} items), pooling {spec.pooling}, dtype {spec.dtype}")
    print(f"{'template':9} {'layer':>5} {'probe(diff)':>11}  {'top PCs: acc (var share)':34} "
          f"{'crc':>5} {'ccs':>5}")  # fmt: skip
    for name, (a, b) in TEMPLATES.items():
        texts = [a.format(s=t) for t in task.texts()] + [b.format(s=t) for t in task.texts()]
        feats = model.features(texts, spec)
        for j, layer in enumerate(layers):
            pos, neg = feats[:n, j].astype(np.float64), feats[n:, j].astype(np.float64)
            pos_n, neg_n = PairNormaliser.fit(pos, neg).transform(pos, neg)
            diff = pos_n - neg_n
            probe = cross_val_score(LogisticRegression(C=0.1, max_iter=2000), diff, y, cv=5)
            _, s, vt = np.linalg.svd(diff, full_matrices=False)
            share = s**2 / (s**2).sum()
            pcs = []
            for k in range(3):
                acc = float(np.mean((diff @ vt[k] > 0) == (y > 0.5)))
                pcs.append(f"{max(acc, 1 - acc):.2f} ({share[k]:.2f})")
            X = np.hstack([pos, neg])
            accs = []
            for rep in ("crc", "ccs"):
                e = ELICITORS.build(rep, sign="oracle").fit(X[:half], y[:half])
                accs.append(float(np.mean((e.predict_proba(X[half:]) > 0.5) == (y[half:] > 0.5))))
            print(f"{name:9} {layer:5d} {probe.mean():11.3f}  {'  '.join(pcs):34} "
                  f"{accs[0]:5.3f} {accs[1]:5.3f}")  # fmt: skip
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
