"""The leakage check: planted duplicates, near-duplicates and shared groups are found
and named by file:line; built-in splits are clean; runs carry the warnings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sandwich.runs import parse_config, run
from sandwich.store import ArtifactStore
from sandwich.tasks import SplitSizes, Task, load_task, load_task_file
from sandwich.tasks.leakage import (
    find_leaks,
    leakage_warnings,
    normalise,
    size_warnings,
    split_warnings,
)
from sandwich.tasks.task import Splits

BUILTIN = ["arithmetic", "borders", "capitals", "cities", "continents", "currencies", "dossier"]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def planted(tmp_path: Path) -> Task:
    return load_task_file(
        _jsonl(
            tmp_path / "claims.jsonl",
            [
                {"text": "Paris is in France.", "label": True, "group": "paris"},  # 1
                {"text": "Paris is in Spain.", "label": False, "group": "paris"},  # 2
                {"text": "Rome is in Italy.", "label": True},  # 3
                {"id": "copy", "text": "Rome is in Italy.", "label": True},  # 4
                {"text": "ZÜRICH is in  Switzerland!", "label": True},  # 5
                {"text": "Zurich is in Switzerland.", "label": True},  # 6
                {"text": "3 + 5 = 8.", "label": True},  # 7
                {"text": "3 + 5 = 9.", "label": False},  # 8
            ],
        )
    )


def _splits(task: Task, a: list[int], b: list[int], t: list[int]) -> Splits:
    """A hand-made split (1-based file lines), to plant leaks Task.split would not make."""
    return Splits(*([task.items[i - 1] for i in part] for part in (a, b, t)))


def test_normalise_ignores_case_accents_punctuation_spaces_but_not_digits() -> None:
    assert normalise("ZÜRICH is in  Switzerland!") == normalise("Zurich is in Switzerland.")
    assert normalise("3 + 5 = 8.") != normalise("3 + 5 = 9.")


def test_finds_each_planted_leak_and_names_the_lines(planted: Task) -> None:
    s = _splits(planted, [1, 3, 5, 7], [2, 4], [6, 8])
    kinds = sorted((lk.kind, lk.key) for lk in find_leaks(s))
    assert kinds == [
        ("duplicate", "Rome is in Italy."),
        ("near-duplicate", "zurich is in switzerland"),
        ("shared group", "paris"),
    ]
    warnings = leakage_warnings(planted, {0: s})
    path = planted.source["path"]
    assert len(warnings) == 3
    dup, near, group = warnings
    assert "exact duplicates" in dup and "claims.jsonl:3 (train_weak, true)" in dup
    assert "claims.jsonl:4 (train_strong, true)" in dup
    assert "near-duplicates" in near and "claims.jsonl:5 (train_weak" in near
    assert "claims.jsonl:6 (test" in near
    assert "'paris'" in group and "claims.jsonl:1" in group and "claims.jsonl:2" in group
    assert all(w.startswith("task 'claims':") for w in warnings)
    assert path.endswith("claims.jsonl")


def test_nothing_is_reported_within_one_split(planted: Task) -> None:
    s = _splits(planted, [1, 2, 3, 4], [5, 6], [7, 8])
    assert find_leaks(s) == []
    assert leakage_warnings(planted, {0: s}) == []


def test_task_split_keeps_groups_but_duplicates_still_show(tmp_path: Path) -> None:
    """A file repeating one statement 30 times (with ids): Task.split spreads the
    copies (they have no group) and the check reports it, for every seed."""
    rows = [{"id": f"r{i}", "text": "Water is wet.", "label": True} for i in range(30)]
    rows += [{"text": f"Statement {i}.", "label": False, "group": f"g{i % 5}"} for i in range(30)]
    task = load_task_file(_jsonl(tmp_path / "rep.jsonl", rows))
    by_seed = {seed: task.split(seed) for seed in range(3)}
    warnings = split_warnings(task, by_seed)
    assert len(warnings) == 1
    assert "1 in seed 0, 1 in seed 1, 1 in seed 2 (of 3 seeds)" in warnings[0]
    assert "rep.jsonl:1 (" in warnings[0] and "more" in warnings[0]
    assert not any(lk.kind == "shared group" for s in by_seed.values() for lk in find_leaks(s))


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_splits_are_clean(name: str) -> None:
    task = load_task(name, seed=0)
    assert split_warnings(task, {seed: task.split(seed) for seed in range(5)}) == []


def test_larger_city_splits_are_clean() -> None:
    task = load_task("larger-city", seed=0)
    assert split_warnings(task, {seed: task.split(seed) for seed in range(5)}) == []


def test_size_warning_when_large_groups_skew_the_split() -> None:
    from sandwich.tasks import Item

    items = [Item.make(f"s{i}.", i % 2 == 0, group="big" if i < 12 else None) for i in range(20)]
    task = Task("skewed", items)
    s = task.split(0)
    assert len(s.train_strong) >= 12  # the big group lands in B (the largest target)
    (w,) = size_warnings(task, {0: s}, SplitSizes())
    assert "task 'skewed': seed 0: split shares are off" in w and "train_strong 0.6" in w


def test_run_results_carry_the_leakage_warning(tmp_path: Path) -> None:
    """A run on a file with a planted cross-split duplicate: results.json and the
    report name the lines (fake backend, seconds)."""
    rows = [
        {"text": f"{a} + {b} = {a + b + (0 if (a + b) % 2 else 1)}.", "label": bool((a + b) % 2)}
        for a in range(10)
        for b in range(12)
    ]
    rows += [{"id": f"dup{i}", "text": "1 + 2 = 3.", "label": True} for i in range(6)]
    p = _jsonl(tmp_path / "sums.jsonl", rows)
    config = parse_config(
        {
            "name": "leaky",
            "tasks": [{"path": str(p)}],
            "weak": ["fake-weak"],
            "strong": ["fake-strong"],
            "elicitors": ["probe"],
            "seeds": [0],
            "bootstrap": {"n_boot": 100},
        }
    )
    out = run(
        config,
        runs_root=tmp_path / "runs",
        store=ArtifactStore(tmp_path / "store"),
        progress=False,
    )
    leaks = [w for w in out.results.warnings if "exact duplicates" in w]
    assert len(leaks) == 1 and "sums.jsonl:" in leaks[0] and "'1 + 2 = 3.'" in leaks[0]
    saved = json.loads((out.run_dir / "results.json").read_text())
    assert leaks[0] in saved["warnings"]
    report = "".join(f.read_text() for f in out.run_dir.glob("report*.md"))
    assert "exact duplicates" in report


def test_command_line_table_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sandwich.tasks.leakage import main

    rows = [{"id": f"r{i}", "text": "Water is wet.", "label": i % 2 == 0} for i in range(20)]
    rows += [{"text": f"S{i}.", "label": i % 2 == 0, "group": f"g{i // 2}"} for i in range(20)]
    p = _jsonl(tmp_path / "mixed.jsonl", rows)
    main([str(p), "continents", "--seeds", "2"])
    out = capsys.readouterr().out
    assert "| mixed | 40 | 10 | 2 | 12 / 16 / 12 | 0 |" in out
    assert "| continents | 400 |" in out and "| 0.0% |" in out
    assert "warning: task 'mixed'" in out
    assert re.search(r"mixed\.jsonl:\d+ \((train_weak|train_strong|test), (true|false)\)", out)
