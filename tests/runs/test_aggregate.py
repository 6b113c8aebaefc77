"""Groups over seeds: intervals over seeds, seed-count flags and notes, JSON safety."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sandwich.metrics.pgr_ci import METHOD_BOOTSTRAP, METHOD_SEEDS, pgr_with_ci
from sandwich.metrics.replicates import mean_ci, ratio_ci
from sandwich.runs.results import (
    FLAG_FEW_SEEDS,
    FLAG_SINGLE_SEED,
    FLAG_SMALL_GAP,
    FLAG_UNBOUNDED_CI,
    LEGACY_GROUP_CI,
    CellResult,
    GroupResult,
    RunResults,
)
from sandwich.runs.w2s import CellOutcome, aggregate, run_warnings
from sandwich.runs.w2s.cell import pgr_fields


def outcome(seed: int, accs: tuple[float, float, float], n: int = 400) -> CellOutcome:
    """A cell whose weak, student, ceiling are right on the first acc * n items."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    preds = []
    for a in accs:
        right = np.arange(n) < round(a * n)
        preds.append(np.where(right, y, 1 - y).astype(float))
    m = pgr_with_ci(y, *preds, n_boot=50, seed=seed)
    result = CellResult(
        task="cities", weak="w", strong="s", elicitor="probe", seed=seed,
        n_train_weak=100, n_train_strong=100, n_test=n, **pgr_fields(m),
        student_auroc=None, ceiling_auroc=None, weak_auroc=None, agreement=0.8,
        agreement_on_weak_errors=None, weak_label_acc_train_strong=0.7,
        student_ece=0.0, weak_ece=0.0,
    )  # fmt: skip
    return CellOutcome(result, y, *preds)


SEED_ACCS = [(0.66, 0.73, 0.83), (0.64, 0.70, 0.80), (0.65, 0.74, 0.84), (0.67, 0.72, 0.81)]


def test_group_interval_is_fieller_over_seeds_and_flags_few_seeds() -> None:
    (g,) = aggregate([outcome(s, a) for s, a in enumerate(SEED_ACCS[:3])], n_boot=100)
    acc = np.array(SEED_ACCS[:3])
    f = ratio_ci(acc[:, 1] - acc[:, 0], acc[:, 2] - acc[:, 0])
    assert g.pgr_ci == pytest.approx((f.low, f.high))
    t = mean_ci(acc[:, 2] - acc[:, 0])
    assert g.gap_ci == pytest.approx((t.low, t.high))
    assert g.ci_method == METHOD_SEEDS
    assert FLAG_FEW_SEEDS in g.flags and FLAG_SINGLE_SEED not in g.flags
    notes = run_warnings([g], min_test=200)
    assert any("wide because seeds are few" in w and "4.30" in w for w in notes)


def test_five_seeds_carry_no_seed_flag() -> None:
    accs = [*SEED_ACCS, (0.65, 0.71, 0.82)]
    (g,) = aggregate([outcome(s, a) for s, a in enumerate(accs)], n_boot=100)
    assert not {FLAG_FEW_SEEDS, FLAG_SINGLE_SEED} & set(g.flags)
    assert run_warnings([g], min_test=200) == []


def test_one_seed_keeps_the_within_seed_bootstrap_and_says_so() -> None:
    (g,) = aggregate([outcome(0, SEED_ACCS[0])], n_boot=300)
    assert g.ci_method == METHOD_BOOTSTRAP and FLAG_SINGLE_SEED in g.flags
    assert g.pgr_ci[0] is not None and g.pgr_ci[0] < g.pgr < g.pgr_ci[1]  # type: ignore[operator]
    notes = run_warnings([g], min_test=200)
    assert any(
        "within-seed interval (one seed): does not include training-seed variance" in w
        for w in notes
    )


def test_unbounded_pgr_set_is_null_in_json_flagged_and_warned() -> None:
    # seeds disagree on whether the ceiling beats weak at all
    accs = [(0.70, 0.72, 0.80), (0.70, 0.71, 0.64), (0.70, 0.73, 0.74)]
    (g,) = aggregate([outcome(s, a) for s, a in enumerate(accs)], n_boot=100)
    assert {FLAG_UNBOUNDED_CI, FLAG_SMALL_GAP} <= set(g.flags)
    assert g.pgr_ci == (None, None)
    text = g.model_dump_json()
    assert json.loads(text)["pgr_ci"] == [None, None] and "NaN" not in text
    assert any("unbounded" in w for w in run_warnings([g], min_test=200))


def test_version_1_groups_without_ci_method_still_load() -> None:
    (g,) = aggregate([outcome(s, a) for s, a in enumerate(SEED_ACCS[:2])], n_boot=100)
    old = json.loads(g.model_dump_json())
    del old["ci_method"]
    old["flags"] = []
    back = GroupResult.model_validate(old)
    assert back.ci_method == LEGACY_GROUP_CI and back.pgr == g.pgr
    assert not math.isnan(back.weak_acc)
    doc = RunResults(
        sandwich_version="0.1.0", run_id="old", created="2026-01-01T00:00:00+00:00",
        config={}, cells=[], groups=[back],
    )  # fmt: skip
    assert RunResults.model_validate_json(doc.model_dump_json()).schema_version == 1
