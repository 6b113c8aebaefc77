"""``icm`` with the in-context predictor on the embedded smollm2-135m: a tiny search (8
``cities`` claims, 8 proposals) runs end to end through the ``Generator`` interface and
scores T with valid probabilities. Accuracy is not asserted: smollm2-135m in context is at
or below chance on ``cities`` even with gold demonstrations (benchmarks/icm_in_context_cost.py).
``pytest -s -m integration tests/integration/test_icm_in_context_embedded.py``: 118.8 s wall,
45.7 s CPU at load average 5-8 on the shared 2-core machine (6 claims labelled, agreement with
gold 0.33, 4 accepted changes)."""

from __future__ import annotations

import numpy as np
import pytest

from sandwich.elicit import ELICITORS
from sandwich.elicit.reporters.icm import ICMReporter
from sandwich.models.generation.local import LocalGenerator
from sandwich.store import ArtifactStore
from sandwich.tasks import TASKS

pytestmark = pytest.mark.integration


def test_in_context_icm_runs_on_smollm2(shared_store: ArtifactStore) -> None:
    task = TASKS.build("cities", n_items=12)
    texts, gold = task.texts(), task.labels()
    gen = LocalGenerator("smollm2-135m", store=shared_store, batch_size=8)
    rep = ELICITORS.build(
        "icm", predictor="in-context", max_items=8, iterations=8, initial=4, max_demos=6
    )
    assert isinstance(rep, ICMReporter)
    rep.fit_texts(texts[:8], gold[:8], gen, random_state=0)
    labels = rep.claim_labels_
    assert set(labels.tolist()) <= {-1, 0, 1} and int(np.sum(labels >= 0)) >= 4
    assert np.isfinite(rep.energy_) and rep.energy_ <= 0.0
    p = rep.predict_texts(texts[8:])
    assert p.shape == (4,) and np.all((p > 0) & (p < 1))
    known = labels >= 0
    agreement = float(np.mean(labels[known] == gold[:8][rep.items_][known]))
    assert agreement == pytest.approx(rep.raw_agreement_)  # y is gold here
    print(f"icm in context, smollm2-135m: {known.sum()} labelled, agreement with gold "
          f"{agreement:.2f}, {rep.accepted_} accepted")  # fmt: skip
