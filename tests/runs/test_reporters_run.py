"""Reporters in a run on the fake backend: contrast features extracted once, in one pass,
only when a reporter needs them; zero-supervision and oracle cells marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sandwich.models import FeatureSpec
from sandwich.models.fake import FakeModel
from sandwich.runs import parse_config, run
from sandwich.runs.config import RunConfig
from sandwich.runs.cost import Throughput
from sandwich.runs.features import TaskFeatures
from sandwich.runs.planning import make_plan
from sandwich.store import ArtifactStore
from sandwich.tasks import TASKS

N_ITEMS = 400
RATES = Throughput.fixed()


def contrast_rows(cfg: RunConfig, store: ArtifactStore) -> list[tuple[str, str | None]]:
    """(state, key) of the plan's contrast-features stages."""
    plan = make_plan(cfg, store, throughput=RATES)
    return [(r.state, r.key) for r in plan.rows if r.stage == "contrast-features"]


def config(elicitors: list[Any]) -> RunConfig:
    return parse_config(
        {
            "name": "reporters",
            "tasks": [{"name": "arithmetic", "n_items": N_ITEMS}],
            "weak": ["fake-weak"],
            "strong": ["fake-strong"],
            "elicitors": elicitors,
            "seeds": [0],
            "bootstrap": {"n_boot": 100},
        }
    )


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """Every feature extraction: (model, texts)."""
    seen: list[tuple[str, list[str]]] = []
    original = FakeModel.features

    def spy(self: FakeModel, texts: Sequence[str], spec: FeatureSpec) -> np.ndarray:
        seen.append((self.name, list(texts)))
        return original(self, texts, spec)

    monkeypatch.setattr(FakeModel, "features", spy)
    return seen


REPORTERS = [
    "probe",
    "mass-mean",
    {"name": "ccs", "params": {"restarts": 3, "epochs": 300}},
    "crc",
    {"name": "crc", "label": "crc-oracle", "params": {"sign": "oracle"}},
    {"name": "icm", "params": {"max_items": 64, "iterations": 800}},
]


def test_reporters_read_contrast_features_extracted_once_in_one_pass(
    tmp_path: Path, calls: list[tuple[str, list[str]]]
) -> None:
    store = ArtifactStore(tmp_path / "store")
    cfg = config(REPORTERS)
    [(state, _)] = contrast_rows(cfg, store)  # one shared stage, planned before it runs
    assert state == "missing"
    out = run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    strong = [texts for name, texts in calls if name == "fake-strong"]
    assert [len(t) for t in strong] == [N_ITEMS, 2 * N_ITEMS]  # plain, then both halves at once
    pairs = strong[1]
    assert all(t.endswith(". True") for t in pairs[:N_ITEMS])
    assert all(t.endswith(". False") for t in pairs[N_ITEMS:])
    task = TASKS.build("arithmetic", n_items=N_ITEMS)
    key = TaskFeatures(store, cfg.features).contrast_key("fake-strong", task)
    assert store.lookup(key)
    assert contrast_rows(cfg, store) == [("stored", key.hex)]  # the plan's key is the run's

    by = {c.elicitor: c for c in out.results.cells}
    assert set(by) == {"probe", "mass-mean", "ccs", "crc", "crc-oracle", "icm"}
    for name in (
        "ccs",
        "crc",
        "crc-oracle",
        "icm",
    ):  # the fake strong model is right 97% of the time
        assert by[name].student_acc > max(0.9, by[name].weak_acc + 0.1), by[name]
        assert "zero_supervision" in by[name].flags
    assert by["crc"].specs["supervision"] == by["icm"].specs["supervision"] == "sign"
    assert by["crc-oracle"].specs["supervision"] == "none" and "oracle" in by["crc-oracle"].flags
    for name in ("probe", "mass-mean"):
        assert "zero_supervision" not in by[name].flags
        assert by[name].specs["supervision"] == "labels"
    assert "zero_supervision" in (tmp_path / "runs" / out.run_dir.name / "report.md").read_text()

    calls.clear()
    again = run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    assert calls == []  # every stage, the contrast features too, comes from the store
    assert [c.student_acc for c in again.results.cells] == [
        c.student_acc for c in out.results.cells
    ]


def test_a_run_without_reporters_extracts_no_contrast_features(
    tmp_path: Path, calls: list[tuple[str, list[str]]]
) -> None:
    store = ArtifactStore(tmp_path / "store")
    cfg = config(["probe", "mass-mean"])
    assert contrast_rows(cfg, store) == []
    run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    assert [len(t) for name, t in calls if name == "fake-strong"] == [N_ITEMS]
    task = TASKS.build("arithmetic", n_items=N_ITEMS)
    assert store.lookup(TaskFeatures(store, cfg.features).contrast_key("fake-strong", task)) is None
