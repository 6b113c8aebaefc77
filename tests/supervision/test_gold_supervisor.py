from __future__ import annotations

import numpy as np

from sandwich.supervision import SUPERVISORS
from sandwich.supervision.gold import GoldSupervisor
from sandwich.tasks import load_task


def test_gold_is_exact() -> None:
    task = load_task("arithmetic", n_items=200)
    sup = SUPERVISORS.build("gold")
    assert isinstance(sup, GoldSupervisor)
    p = sup.fit(task.items[:50], lambda m, items: np.zeros((len(items), 1)), 0).predict_proba(
        task.items, lambda m, items: np.zeros((len(items), 1))
    )
    assert p.dtype == np.float64
    np.testing.assert_array_equal(p, task.labels().astype(float))
