"""The w2s kind asks components what they declare, never their names.

A supervisor and an elicitor registered here, inside the tests (throwaway
registry entries), run through the whole pipeline with no change to
``sandwich.runs``; cache keys follow the components' resolved parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from sandwich.elicit import ELICITORS, Elicitor, LogisticProbe
from sandwich.runs import parse_config, run
from sandwich.runs.w2s import feature_jobs
from sandwich.store import ArtifactStore
from sandwich.supervision import SUPERVISORS, FeatureSource, Supervisor
from sandwich.tasks import Item

READ: list[tuple[str, int]] = []  # (model, rows) of every feature read by the supervisor


class TwoModelProbe(Supervisor):
    """A probe on two weak models' features side by side (a supervisor no run code knows)."""

    def __init__(self, first: str = "fake-weak", second: str = "fake-mid") -> None:
        self.first, self.second = first, second

    def feature_models(self) -> list[str]:
        return [self.first, self.second]

    def _x(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        parts = [features(m, items) for m in self.feature_models()]
        READ.extend((m, len(x)) for m, x in zip(self.feature_models(), parts, strict=True))
        return np.concatenate(parts, axis=1)

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        y = np.array([it.label for it in items], dtype=np.float64)
        self.probe_ = LogisticProbe().fit(self._x(items, features), y, random_state)
        return self

    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        return self.probe_.predict_proba(self._x(items, features))


class CentroidElicitor(Elicitor):
    """Soft-label class centroids; P(true) from the distances (an elicitor no run code knows)."""

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = temperature

    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> Self:
        self.true_ = (y[:, None] * X).sum(0) / y.sum()
        self.false_ = ((1 - y)[:, None] * X).sum(0) / (1 - y).sum()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        d = ((X - self.false_) ** 2).sum(1) - ((X - self.true_) ** 2).sum(1)
        scale = self.temperature * np.sqrt(X.shape[1])
        return np.asarray(1 / (1 + np.exp(-d / scale)), dtype=np.float64)


class NoisyGoldParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flip: float = 0.2


class NoisyGold(Supervisor):
    """Gold labels with a ``flip`` share flipped (by a hash of the item id)."""

    Params = NoisyGoldParams

    def __init__(self, flip: float) -> None:
        self.flip = flip

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        return self

    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        u = [int(hashlib.sha256(it.id.encode()).hexdigest()[:8], 16) / 2**32 for it in items]
        gold = np.array([it.label for it in items], dtype=bool)
        return np.where(np.array(u) < self.flip, ~gold, gold).astype(np.float64)


class ShrunkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    C: float = 1.0


class ShrunkProbe(Elicitor):
    """A logistic probe with one fixed inverse L2 strength ``C``."""

    Params = ShrunkParams

    def __init__(self, C: float) -> None:
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> Self:
        self.probe_ = LogisticProbe(Cs=(self.C,)).fit(X, y, random_state)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.probe_.predict_proba(X)


@pytest.fixture(autouse=True)
def _throwaway_entries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register the components above for one test only."""
    monkeypatch.setattr(SUPERVISORS, "_entries", dict(SUPERVISORS._entries))
    monkeypatch.setattr(ELICITORS, "_entries", dict(ELICITORS._entries))
    SUPERVISORS.register("test-two-model-probe")(TwoModelProbe)
    SUPERVISORS.register("test-noisy-gold")(NoisyGold)
    ELICITORS.register("test-centroid")(CentroidElicitor)
    ELICITORS.register("test-shrunk-probe")(ShrunkProbe)
    READ.clear()
    yield


def config(**overrides: Any) -> Any:
    base: dict[str, Any] = {
        "name": "caps",
        "tasks": [{"name": "arithmetic", "n_items": 600}],
        "weak": ["test-two-model-probe"],
        "strong": ["fake-strong"],
        "elicitors": ["test-centroid"],
        "seeds": [0],
        "bootstrap": {"n_boot": 100},
    }
    return parse_config({**base, **overrides})


def count(store: ArtifactStore, stage: str) -> int:
    return len(list((store.root / "artifacts" / stage).glob("*/*/MANIFEST.json")))


def test_a_new_feature_supervisor_and_elicitor_run_with_no_change_to_the_run_code(
    tmp_path: Path,
) -> None:
    cfg = config()
    # the features the cells need come from what the components declare
    assert [m for _, m in feature_jobs(cfg)] == ["fake-weak", "fake-mid", "fake-strong"]
    store = ArtifactStore(tmp_path / "s")
    out = run(cfg, runs_root=tmp_path / "r", store=store, progress=False)
    cell = out.results.cells[0]
    assert (cell.weak, cell.elicitor) == ("test-two-model-probe", "test-centroid")
    # the supervisor read both models' features on A (fit) and on B and T (labels)
    assert {m for m, _ in READ} == {"fake-weak", "fake-mid"}
    assert sorted(n for m, n in READ if m == "fake-mid") == sorted(
        [cell.n_train_weak, cell.n_train_strong, cell.n_test]
    )
    assert 0.7 < cell.weak_acc < cell.ceiling_acc  # better than fake-weak alone, below the ceiling
    assert cell.student_acc > 0.6 and cell.specs["ceiling"] == "probe on B gold labels"
    assert cell.specs["resolved"]["weak"]["name"] == "test-two-model-probe"
    assert cell.specs["resolved"]["elicitor"]["name"] == "test-centroid"
    # both models' features are part of the labels' key: the second run reads them from the store
    again = run(cfg, runs_root=tmp_path / "r", store=store, progress=False)
    assert again.results.cells[0].weak_acc == cell.weak_acc
    assert count(store, "labels") == 1 and count(store, "features") == 3


def test_writing_a_default_out_keeps_every_cache_key(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    implicit = config(weak=["test-noisy-gold"], elicitors=["test-shrunk-probe"])
    first = run(implicit, runs_root=tmp_path / "r", store=store, progress=False)
    stages = {s: count(store, s) for s in ("labels", "ceiling", "predictions")}
    assert stages == {"labels": 1, "ceiling": 1, "predictions": 1}
    explicit = config(
        weak=[{"name": "test-noisy-gold", "params": {"flip": 0.2}}],
        elicitors=[{"name": "test-shrunk-probe", "params": {"C": 1.0}}],
    )
    second = run(explicit, runs_root=tmp_path / "r", store=store, progress=False)
    assert {s: count(store, s) for s in stages} == stages  # nothing recomputed
    a, b = first.results.cells[0], second.results.cells[0]
    assert (a.weak_acc, a.student_acc) == (b.weak_acc, b.student_acc)
    # results record the resolved parameters either way, defaults included
    assert b.specs["resolved"]["weak"]["params"] == {"flip": 0.2}
    assert a.specs["resolved"] == b.specs["resolved"]
    assert a.specs["resolved"]["elicitor"] == {
        "kind": "elicitor", "name": "test-shrunk-probe", "params": {"C": 1.0}, "version": 1,
    }  # fmt: skip


def test_changing_a_default_changes_the_cache_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(tmp_path / "s")
    cfg = config(weak=["test-noisy-gold"], elicitors=["test-shrunk-probe"])
    before = run(cfg, runs_root=tmp_path / "r", store=store, progress=False).results.cells[0]

    class NewShrunk(ShrunkParams):
        C: float = 0.001

    monkeypatch.setattr(ShrunkProbe, "Params", NewShrunk)
    after = run(cfg, runs_root=tmp_path / "r", store=store, progress=False).results.cells[0]
    # a new student; the labels and the ceiling do not depend on the elicitor's params
    assert (count(store, "labels"), count(store, "ceiling"), count(store, "predictions")) == (
        1,
        1,
        2,
    )
    assert after.specs["resolved"]["elicitor"]["params"] == {"C": 0.001}
    assert after.student_acc != before.student_acc

    class NewNoisy(NoisyGoldParams):
        flip: float = 0.3

    monkeypatch.setattr(NoisyGold, "Params", NewNoisy)
    noisier = run(cfg, runs_root=tmp_path / "r", store=store, progress=False).results.cells[0]
    assert count(store, "labels") == 2 and count(store, "ceiling") == 1
    assert noisier.weak_acc < after.weak_acc


def test_a_code_version_bump_changes_the_cache_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(tmp_path / "s")
    cfg = config(weak=["test-noisy-gold"], elicitors=["test-shrunk-probe"])
    run(cfg, runs_root=tmp_path / "r", store=store, progress=False)
    monkeypatch.setattr(ShrunkProbe, "VERSION", 2, raising=False)
    cell = run(cfg, runs_root=tmp_path / "r", store=store, progress=False).results.cells[0]
    assert count(store, "predictions") == 2 and count(store, "labels") == 1
    assert cell.specs["resolved"]["elicitor"]["version"] == 2


def test_features_are_computed_for_what_supervisors_and_elicitors_declare() -> None:
    weak = [
        {"name": "weak-model", "model": "fake-weak"},  # a probe on its features
        {"name": "weak-model", "model": "fake-mid", "label": "ft",
         "params": {"method": "finetune"}},  # fine-tuned: reads texts, not features
        "nonexpert",
    ]  # fmt: skip
    jobs = feature_jobs(config(weak=weak, elicitors=["probe"]))
    assert [m for _, m in jobs] == ["fake-weak", "fake-strong"]
    # a fine-tuning elicitor reads texts: no features of the strong model
    jobs = feature_jobs(config(weak=weak, elicitors=["finetune"]))
    assert [m for _, m in jobs] == ["fake-weak"]


def test_no_run_code_decides_by_a_supervisor_name_or_probes_for_a_method() -> None:
    """The string ``"weak-model"`` appears only where a bare model name maps to the default
    model supervisor and where that supervisor is registered; nothing in ``runs/`` looks
    for an optional attribute by name (``getattr(obj, "x")``, ``hasattr(obj, "x")``)."""
    import ast

    import sandwich

    src = Path(sandwich.__file__).parent
    named, probed = set(), []
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value == "weak-model":
                named.add(path.relative_to(src).as_posix())
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("getattr", "hasattr") and path.is_relative_to(src / "runs")
                    and any(isinstance(a, ast.Constant) for a in node.args[1:2])):  # fmt: skip
                probed.append(f"{path.relative_to(src)}:{node.lineno}")
    assert named == {"runs/config.py", "supervision/registry.py"}
    assert probed == []
