from __future__ import annotations

import pytest

from sandwich.results import (
    FLAG_SMALL_GAP,
    FLAG_SMALL_TEST,
    CellResult,
    GroupResult,
    RunResults,
)

EVIL = '<script>alert("x")</script>'


def _cell(task: str, weak: str, strong: str, elicitor: str, seed: int, accs: tuple[float, ...],
          flags: list[str]) -> CellResult:  # fmt: skip
    w, s, c = accs
    gap = c - w
    pgr = (s - w) / gap if gap else float("nan")
    return CellResult(
        task=task, weak=weak, strong=strong, elicitor=elicitor, seed=seed,
        n_train_weak=400, n_train_strong=800, n_test=400,
        weak_acc=w, weak_acc_ci=(w - 0.04, w + 0.04),
        ceiling_acc=c, ceiling_acc_ci=(c - 0.03, c + 0.03),
        student_acc=s, student_acc_ci=(s - 0.04, s + 0.04),
        pgr=pgr, pgr_ci=(pgr - 0.2, pgr + 0.2), gap=gap, gap_ci=(gap - 0.04, gap + 0.04),
        student_auroc=0.9, ceiling_auroc=0.95, weak_auroc=0.8,
        agreement=0.85, agreement_on_weak_errors=0.4, weak_label_acc_train_strong=w,
        student_ece=0.05, weak_ece=0.08, flags=flags, seconds=0.0,
    )  # fmt: skip


def make_results(task_names: tuple[str, str] = ("cities", "capitals")) -> RunResults:
    """Two tasks, two (weak, strong) pairs, two elicitors, two seeds; one small-gap group."""
    cells, groups = [], []
    accs = {
        ("minilm-l6", "smollm2-135m"): (0.78, 0.86),
        ("smollm2-135m", "gemma3-270m"): (0.86, 0.87),  # small gap
    }
    for task in task_names:
        for (weak, strong), (w, c) in accs.items():
            for k, elicitor in enumerate(("probe", "probe-logconf")):
                s = w + (0.3 + 0.2 * k) * (c - w)
                small = c - w < 0.02
                flags = [FLAG_SMALL_GAP] if small else []
                members = [
                    _cell(task, weak, strong, elicitor, seed, (w + d, s + d, c + d), flags)
                    for seed, d in ((0, -0.005), (1, 0.005))
                ]
                cells += members
                pgr = (s - w) / (c - w)
                groups.append(GroupResult(
                    task=task, weak=weak, strong=strong, elicitor=elicitor, seeds=[0, 1],
                    n_test=400, weak_acc=w, weak_acc_ci=(w - 0.03, w + 0.03), ceiling_acc=c,
                    ceiling_acc_ci=(c - 0.02, c + 0.02), student_acc=s,
                    student_acc_ci=(s - 0.03, s + 0.03), gap=c - w,
                    gap_ci=(c - w - 0.04, c - w + 0.04), pgr=pgr,
                    pgr_ci=(pgr - 0.9, pgr + 1.1) if small else (pgr - 0.15, pgr + 0.15),
                    flags=flags,
                ))  # fmt: skip
    groups[0].flags.append(FLAG_SMALL_TEST)
    return RunResults(
        sandwich_version="0.1.0", run_id="test-run", created="2026-11-23T20:00:00+00:00",
        config={"tasks": list(task_names), "bootstrap": {"n_boot": 2000}},
        cells=cells, groups=groups, warnings=["only 150 test items per seed"],
    )  # fmt: skip


@pytest.fixture
def results() -> RunResults:
    return make_results()


@pytest.fixture
def evil_results() -> RunResults:
    return make_results((EVIL, "cities | with pipe"))
