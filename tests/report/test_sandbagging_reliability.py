"""The sandbagging report's reliability diagram: the locked, elicited and unlocked models'
bins stored per record, pooled over seeds into one figure per (task, strong, weak,
elicitor); records written before the bins were stored parse and render without it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sandwich.metrics.calibration import bins_ece, ece, reliability_diagram
from sandwich.results import SCHEMA_VERSION, BinRecord, parse_results
from sandwich.runs.sandbagging.report import ROLES, sandbagging_report
from sandwich.runs.sandbagging.schema import SandbaggingRecord

PNG = b"\x89PNG\r\n\x1a\n"


def predictions(seed: int, n: int = 240) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Gold labels of T and three models' P(true): the locked one confidently wrong on a
    third of the items, the elicited one noisier, the unlocked one calibrated."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    unlocked = rng.uniform(0.5, 1.0, n)
    unlocked = np.where(rng.random(n) < unlocked, unlocked, 1 - unlocked)  # calibrated
    unlocked = np.where(y == 1, unlocked, 1 - unlocked)
    locked = np.where(rng.random(n) < 1 / 3, 1 - y, y) * 0.9 + 0.05
    elicited = np.clip(0.5 + (y - 0.5) * rng.uniform(-0.4, 1.0, n), 0, 1)
    return y, {"locked": locked, "unlocked": unlocked, "elicited": elicited}


def record(seed: int, bins: bool = True) -> dict[str, Any]:
    y, p = predictions(seed)
    doc: dict[str, Any] = {
        "task": "cities", "strong": "tiny", "weak": "nonexpert", "elicitor": "probe",
        "seed": seed, "n_lock": 100, "n_elicit": 80, "n_test": len(y),
        "weak_acc": 0.6, "weak_acc_ci": (0.5, 0.7), "locked_acc": 0.66,
        "locked_acc_ci": (0.6, 0.7), "unlocked_acc": 0.9, "unlocked_acc_ci": (0.85, 0.95),
        "elicited_acc": 0.8, "elicited_acc_ci": (0.75, 0.85), "gap": 0.24,
        "gap_ci": (0.2, 0.3), "lock_worked": True, "pgr": 0.58, "pgr_ci": (0.4, 0.7),
    }  # fmt: skip
    if bins:
        for role in ROLES:
            doc[f"{role}_reliability"] = [
                b.model_dump() for b in BinRecord.of(reliability_diagram(y, p[role]))
            ]
    return doc


def results(cells: list[dict[str, Any]]) -> Any:
    doc = {"schema_version": SCHEMA_VERSION, "sandwich_version": "0", "run_id": "r",
           "created": "2026-01-01T00:00:00", "config": {}, "groups": [],
           "cells": [{"kind": "sandbagging", **c} for c in cells]}  # fmt: skip
    return parse_results(json.dumps(doc))


def test_records_keep_their_bins_and_the_report_pools_them_over_seeds(tmp_path: Path) -> None:
    res = results([record(0), record(1)])
    cells = res.cells_of("sandbagging")
    assert all(isinstance(c, SandbaggingRecord) for c in cells)
    assert parse_results(res.model_dump_json()) == res  # the bins survive results.json
    for c in cells:
        for role in ROLES:
            assert sum(b.n for b in getattr(c, f"{role}_reliability")) == c.n_test
    report = sandbagging_report(res, tmp_path)
    pngs = sorted(tmp_path.glob("plots/sandbagging-reliability-*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == PNG and pngs[0] in report.files
    (section,) = [s for s in report.sections if s.title == "Sandbagging: calibration"]
    assert pngs[0].name in section.markdown and "data:image/png;base64" in section.html
    assert r"cities \| tiny locked, nonexpert \| probe" in section.markdown  # escaped |
    assert "pooled over 2 seed(s), 480 items" in section.markdown
    # each ECE in the caption is that of both seeds' predictions together
    ys, ps = zip(*(predictions(s) for s in (0, 1)), strict=True)
    y = np.concatenate(ys)
    for role in ROLES:
        expected = ece(y, np.concatenate([p[role] for p in ps]))
        assert f"{role} ECE {expected:.3f}" in section.markdown
    pooled_locked = [b.bin() for c in cells for b in c.locked_reliability or []]
    assert bins_ece(pooled_locked) > 0.2  # confidently wrong on a third: far from calibrated


def test_old_records_without_bins_parse_and_render_without_the_diagram(tmp_path: Path) -> None:
    res = results([record(0, bins=False)])
    (cell,) = res.cells_of("sandbagging")
    assert all(getattr(cell, f"{role}_reliability") is None for role in ROLES)
    report = sandbagging_report(res, tmp_path)
    assert [s.title for s in report.sections] == [
        "Sandbagging: a password-locked model",
        "Sandbagging plots",
    ]
    assert not list(tmp_path.glob("plots/*reliability*.png"))
