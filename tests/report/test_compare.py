"""The side-by-side table: accuracies, PGRs and each method's paired difference to its control."""

from __future__ import annotations

import json

from sandwich.report.compare import side_by_side
from sandwich.results import ComparisonResult, RunResults


def _comparison(weak: str, strong: str, n_seeds: int) -> ComparisonResult:
    return ComparisonResult(
        task="cities", weak=weak, strong=strong, method="probe-logconf", control="probe",
        method_kind="features", seeds=list(range(n_seeds)), n_seeds=n_seeds, n_test=400,
        method_acc=0.83, control_acc=0.81, diff=0.0213, diff_ci=(-0.004, 0.0466),
        interval="t over seeds" if n_seeds > 1 else "within-seed bootstrap",
        seed_diffs=[0.02] * n_seeds,
    )  # fmt: skip


def test_results_files_without_comparisons_still_load(results: RunResults) -> None:
    data = json.loads(results.model_dump_json())
    del data["comparisons"]
    assert RunResults.model_validate(data).comparisons == []


def test_without_comparisons_there_is_no_paired_column(results: RunResults) -> None:
    assert not any("paired" in h for h in side_by_side(results).header)


def test_each_method_shows_its_paired_difference_to_its_control(results: RunResults) -> None:
    results.comparisons = [
        _comparison("minilm-l6", "smollm2-135m", 2),
        _comparison("smollm2-135m", "gemma3-270m", 1),
    ]
    table = side_by_side(results)
    col = table.header.index("probe-logconf − probe acc, paired [CI]")
    cities = [r for r in table.rows if r[0] == "cities"]
    assert cities[0][col] == "+0.021 [-0.004, +0.047] (2 seeds, t)"
    assert cities[1][col] == "+0.021 [-0.004, +0.047] (1 seed, within-seed)"
    capitals = [r for r in table.rows if r[0] == "capitals"]
    assert all(r[col] == "" for r in capitals)  # no comparison stored for that task


def test_a_shared_ceiling_is_one_row_whatever_each_cell_resampled(results: RunResults) -> None:
    """Cells of one seed share the ceiling; their CIs of it differ (each cell's paired
    bootstrap resamples its own student too), which must not split the row."""
    from sandwich.report.compare import ceilings

    cells = [c for c in results.cells if c.seed == results.cells[0].seed]
    same = [c for c in cells if (c.task, c.strong) == (cells[0].task, cells[0].strong)]
    assert len(same) >= 2
    for k, c in enumerate(same):
        c.ceiling_acc = same[0].ceiling_acc
        c.ceiling_acc_ci = (0.80 + 0.001 * k, 0.90 - 0.001 * k)
        c.specs["ceiling"] = "probe on B gold labels"
    rows = [
        r for r in ceilings(results).rows
        if r[:3] == (same[0].task, same[0].strong, str(same[0].seed))
    ]  # fmt: skip
    assert len(rows) == 1
    assert set(rows[0][5].split(", ")) == {c.elicitor for c in same}
