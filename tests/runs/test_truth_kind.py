"""The truth kind: reporters trained on one task, scored on every task's T split, per layer.

On the fake backend, which "knows" integer addition (a planted truth direction
whose strength grows with depth) and nothing else: a reporter trained on sums
detects false sums on another set of sums, and is at chance on colours.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sandwich.errors import ConfigError
from sandwich.models.fake import FakeModel
from sandwich.runs import load_results, parse_config, plan_cells, run
from sandwich.runs.context import RunContext
from sandwich.runs.executor import LocalExecutor
from sandwich.runs.truth.features import layer_key
from sandwich.runs.truth.kind import TruthKind, model_layers
from sandwich.runs.truth.schema import TruthRecord
from sandwich.store import ArtifactStore


def _sums(path: Path, n: int = 240) -> Path:
    """A user task: n distinct two-digit sums, half of them false, grouped by their terms."""
    rng = np.random.default_rng(5)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(rows) < n:
        a, b = (int(v) for v in rng.integers(10, 99, size=2))
        true = len(rows) % 2 == 0
        c = a + b if true else a + b + int(rng.choice([-10, -1, 1, 10]))
        text = f"{a} + {b} = {c}"
        if text not in seen:
            seen.add(text)
            rows.append({"text": text, "label": int(true), "group": f"{a}+{b}"})
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


CCS = {"name": "ccs", "params": {"restarts": 2, "epochs": 200}}  # fast enough for a unit test


def _colours(path: Path, n: int = 160) -> Path:
    """A user task the fake model knows nothing of (no sum to parse: its beliefs are random)."""
    names = ["red", "blue", "green", "amber"]
    rows = [{"text": f"Box {i} is {names[i % 4]}.", "label": int((i // 4) % 2 == 0)}
            for i in range(n)]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def _config(tmp: Path, **truth: Any) -> dict[str, Any]:
    return {
        "name": "truth-test",
        "tasks": [
            {"name": "arithmetic", "n_items": 300},
            {"path": str(_sums(tmp / "sums.jsonl"))},
            {"path": str(_colours(tmp / "colours.jsonl"))},
        ],
        "seeds": [0],
        "bootstrap": {"n_boot": 200, "min_test": 20},
        "truth": {
            "models": ["fake-strong"],
            "reporters": ["probe", "mass-mean", CCS],
            "layers": [1, 4],
            **truth,
        },
    }


def _run(tmp: Path, config: dict[str, Any]) -> Any:
    return run(parse_config(config), runs_root=tmp / "runs", store=ArtifactStore(tmp / "store"),
               executor=LocalExecutor(progress=False), progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    tmp = tmp_path_factory.mktemp("truth")
    return tmp, _run(tmp, _config(tmp))


def test_the_matrix_has_a_row_per_train_task_and_a_column_per_test_task(
    done: tuple[Path, Any],
) -> None:
    _, out = done
    recs = out.results.cells_of("truth")
    # 1 model x 3 layers (1, 4 and the matrix's) x 3 train tasks x 1 seed x 3 reporters
    assert len(recs) == 27 and all(isinstance(r, TruthRecord) for r in recs)
    for r in recs:
        assert [s.task for s in r.scores] == ["arithmetic", "sums", "colours"]
        for s in r.scores:
            assert s.n > 0 and 0 <= s.accuracy <= 1
            assert s.auroc.low is not None and s.auroc.low <= s.auroc.value <= s.auroc.high
            assert s.recall_fpr01.value is not None and s.recall_fpr05.value is not None
            assert s.recall_fpr01.value <= s.recall_fpr05.value + 1e-9
            assert s.ece.value is not None and s.reliability
    # the matrix layer (features.layer 0.5 of 4 blocks = 2) is added to the sweep
    assert {(r.layer, r.matrix) for r in recs} == {(1, False), (2, True), (4, False)}


def test_a_reporter_finds_the_planted_truth_and_it_transfers_between_sum_tasks(
    done: tuple[Path, Any],
) -> None:
    """fake-strong believes sums with skill 0.97 and knows nothing of colours: trained on
    sums, every reporter separates true from false sums on either sum task, and on colours
    (beliefs drawn at random) it and a reporter trained there are at chance."""
    _, out = done
    recs = [r for r in out.results.cells_of("truth") if r.layer == 4]
    for r in recs:
        auc = {s.task: s.auroc for s in r.scores}
        if r.train in ("arithmetic", "sums"):
            assert auc["arithmetic"].value > 0.85 and auc["sums"].value > 0.85, r
        assert auc["colours"].low < 0.5 + 0.15 and auc["colours"].value < 0.7, r


def test_the_layer_sweep_sees_the_direction_grow_with_depth(done: tuple[Path, Any]) -> None:
    """The planted direction's strength is 0 at layer 0 and grows linearly: layer 1 of 4 is
    noisier than layer 4 for a reporter trained and tested on arithmetic."""
    _, out = done
    acc = {(r.reporter, r.layer): r.score("arithmetic").accuracy
           for r in out.results.cells_of("truth") if r.train == "arithmetic"}  # fmt: skip
    assert all(acc[(rep, 1)] <= acc[(rep, 4)] for rep in ("probe", "mass-mean", "ccs"))


def test_results_parse_back_and_the_report_draws_matrix_sweep_and_reliability(
    done: tuple[Path, Any],
) -> None:
    _, out = done
    again = load_results(out.run_dir)
    assert again == out.results
    plots = sorted(p.name for p in (out.run_dir / "plots").glob("truth-*.png"))
    assert plots == sorted(
        [f"truth-matrix-fake-strong-{r}.png" for r in ("probe", "mass-mean", "ccs")]
        + ["truth-layers.png"]
        + [f"truth-reliability-{r}.png" for r in ("probe", "mass-mean", "ccs")]
    )
    md = (out.run_dir / "report.md").read_text()
    assert "## Generalisation: fake-strong, probe, layer 2" in md
    assert "## Layer sweep" in md and "recall@1%FPR" in md
    assert "fewer than" not in md  # min_test 20: no small-test warning


def test_features_are_extracted_once_per_task_for_all_layers_and_a_rerun_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, tuple[int, ...]]] = []
    real, real_pairs = FakeModel.features, FakeModel.pair_features

    def counting(self: FakeModel, texts: Any, spec: Any) -> np.ndarray:
        calls.append(("features", spec.layers))
        return real(self, texts, spec)

    def counting_pairs(self: FakeModel, pos: Any, neg: Any, spec: Any) -> Any:
        calls.append(("pairs", spec.layers))
        return real_pairs(self, pos, neg, spec)

    monkeypatch.setattr(FakeModel, "features", counting)
    monkeypatch.setattr(FakeModel, "pair_features", counting_pairs)
    config = _config(tmp_path, reporters=["probe", CCS], layers="all")
    first = _run(tmp_path, config)
    # per task: one pass over the texts, and the contrast pairs through pair_features (a
    # decoder runs a pair's shared start once; the fake model's is one pass over both
    # halves), each for all 4 layers at once
    everything = (1, 2, 3, 4)
    assert calls == [("features", everything), ("pairs", everything), ("features", everything)] * 3

    def refuse(self: FakeModel, texts: Any, spec: Any) -> np.ndarray:
        raise AssertionError("a rerun must read the features from the store")

    monkeypatch.setattr(FakeModel, "features", refuse)
    second = _run(tmp_path, config)
    assert [r.model_dump() for r in second.results.cells] == [
        r.model_dump() for r in first.results.cells
    ]


def test_a_layer_shares_its_features_with_w2s_at_that_layer(tmp_path: Path) -> None:
    config = parse_config({**_config(tmp_path), "features": {"layer": 0.75}})
    ctx = RunContext(config, ArtifactStore(tmp_path / "store"), progress=False)
    task = ctx.task(config.tasks[0])
    model = ctx.features.model("fake-strong")
    assert layer_key(model, task, config.features, 3, False) == ctx.features.key(
        "fake-strong", task
    )
    assert layer_key(model, task, config.features, 3, True) == ctx.features.contrast_key(
        "fake-strong", task
    )


def test_layers_resolve_per_model() -> None:
    def resolved(layers: Any, layer: Any = None, n: int = 30) -> tuple[list[int], int]:
        truth = {"models": ["fake-strong"], "reporters": ["probe"], "layers": layers}
        config = parse_config({"task": {"name": "arithmetic"}, "truth": {**truth, "layer": layer}})
        return model_layers(config.section("truth"), config, n)

    assert resolved("all", n=4) == ([1, 2, 3, 4], 2)
    assert resolved("every 10") == ([10, 15, 20, 30], 15)
    assert resolved([0.5, -1], layer=0.2) == ([6, 15, 30], 6)


def test_weak_labels_train_the_reporters_and_their_agreement_with_gold_is_reported(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, reporters=["mass-mean"], layers=[4], labels="weak",
                     supervisor={"name": "weak-model", "model": "fake-weak"},
                     train_tasks=["arithmetic"])  # fmt: skip
    cells = plan_cells(parse_config(config))
    assert len(cells) == 2  # layers 2 (the matrix's) and 4; one train task
    out = _run(tmp_path, config)
    for r in out.results.cells_of("truth"):
        assert r.labels == "weak" and r.train_agreement is not None
        assert 0.6 < r.train_agreement < 0.95  # fake-weak believes sums with skill 0.7


@pytest.mark.parametrize(
    ("truth", "message"),
    [
        ({"reporters": ["nope"]}, r"truth.reporters.0.name: unknown elicitor 'nope'"),
        ({"reporters": ["finetune"]}, r"truth.reporters.0.name: 'finetune' fine-tunes"),
        (
            {"reporters": [{"name": "icm", "params": {"predictor": "in-context"}}]},
            r"truth.reporters.0.params: 'icm' with these params reads texts only",
        ),
        ({"models": ["no-such-model"]}, r"truth.models.0: unknown model 'no-such-model'"),
        ({"layers": "some"}, r"truth.layers: .*'all' or 'every k'"),
        ({"layers": [1.5]}, r"truth.layers: .*depth fraction in \(0, 1\]"),
        ({"train_tasks": ["citiez"]}, r"truth.train_tasks.0: 'citiez' is not a task"),
        ({"labels": "weak"}, r"truth.supervisor: labels: weak needs a supervisor"),
        ({"reporters": ["probe", "probe"]}, r"truth.reporters: labels must be unique"),
        ({"colour": 1}, r"truth.colour: unknown field"),
    ],
)
def test_a_bad_section_fails_at_load_naming_the_field(
    tmp_path: Path, truth: dict[str, Any], message: str
) -> None:
    config = _config(tmp_path)
    with pytest.raises(ConfigError, match=message):
        parse_config({**config, "truth": {**config["truth"], **truth}})


def test_a_layer_out_of_range_fails_when_planned(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path, layers=[9]))
    with pytest.raises(ValueError, match=r"layer 9 is out of range \(1..4"):
        TruthKind().plan(config)


@pytest.mark.integration
def test_two_tasks_two_layers_on_smollm2(tmp_path: Path) -> None:
    """The real model: a probe trained on cities, at two depths, scored on cities and
    capitals; above chance in distribution at the middle layer."""
    start = time.perf_counter()
    config = {
        "name": "truth-smollm2",
        "tasks": [{"name": "cities", "n_items": 120}, {"name": "capitals", "n_items": 120}],
        "split": {"train_weak": 0.1, "train_strong": 0.5, "test": 0.4},
        "seeds": [0],
        "bootstrap": {"n_boot": 200, "min_test": 20},
        "truth": {
            "models": ["smollm2-135m"],
            "reporters": ["probe", "mass-mean"],
            "layers": [0.5, 1.0],
            "train_tasks": ["cities"],
        },
    }
    out = _run(tmp_path, config)
    recs = out.results.cells_of("truth")
    assert sorted({r.layer for r in recs}) == [15, 30] and len(recs) == 4
    for r in recs:
        assert [s.task for s in r.scores] == ["cities", "capitals"]
    mid = [r for r in recs if r.matrix]
    assert all(r.layer == 15 for r in mid)
    assert max(r.score("cities").auroc.value for r in mid) > 0.6
    assert (out.run_dir / "plots" / "truth-layers.png").is_file()
    assert time.perf_counter() - start < 90


def test_tasks_that_share_statements_are_named_in_a_warning(tmp_path: Path) -> None:
    """Across tasks, items differ by construction; a user task that repeats another's
    statements makes its off-diagonal cells partly in distribution: the run says so."""
    sums = _sums(tmp_path / "sums.jsonl")
    again = tmp_path / "again.jsonl"
    again.write_text("\n".join(sums.read_text().splitlines()[:100]))
    config = {**_config(tmp_path, reporters=["mass-mean"], layers=[4]),
              "tasks": [{"path": str(sums)}, {"path": str(again)}]}  # fmt: skip
    out = _run(tmp_path, config)
    assert "truth: tasks sums and again share 100 statements" in " ".join(out.results.warnings)


def test_the_planned_stages_are_the_artifacts_the_run_stored(done: tuple[Path, Any]) -> None:
    """``sandwich plan`` keys each stage with the function the run uses: after the run,
    every planned features, contrast-features and predictions stage is stored."""
    tmp, _ = done
    config = parse_config(_config(tmp))
    ctx = RunContext(config, ArtifactStore(tmp / "store"), progress=False)
    stages = TruthKind().stages(ctx, TruthKind().plan(config))
    counts = {name: sum(s.stage == name for s in stages) for name in {s.stage for s in stages}}
    # 3 layers x 3 tasks of features and of contrast pairs; 27 cells
    assert counts == {"features": 9, "contrast-features": 9, "truth": 27, "measure": 27}
    cached = [s for s in stages if s.cached]  # the measures (metrics) run every time
    assert all(s.key is not None and ctx.store.lookup(s.key) is not None for s in cached)
    assert sum(1 for s in stages if any(w.op == "forward" for w in s.work)) == 6  # one pass each


def test_a_cell_is_costed_by_its_reporters_solver_its_reads_and_its_metrics(
    tmp_path: Path,
) -> None:
    """Each cell's predictions: its layer's features of the train task and of every test
    task read back (the generalisation matrix reads them all), then the reporter's fit by
    what its solver does (mass-mean a pass, CRC an SVD, CCS restarts x epochs of steps, the
    probe its lbfgs fits), not one probe fit whatever the reporter; and every test set's
    detection metrics, bootstrapped each run (hand counts)."""
    from sandwich.runs.cost import Throughput, work_seconds

    reporters = ["probe", "mass-mean", CCS, "crc"]
    config = parse_config(_config(tmp_path, reporters=reporters, layers=[4]))
    ctx = RunContext(config, ArtifactStore(tmp_path / "store"), progress=False)
    cells = TruthKind().plan(config)
    stages = TruthKind().stages(ctx, cells)
    tp = Throughput.fixed()
    d = ctx.features.model("fake-strong").hidden_size
    tables = sum(len(ctx.task(t).items) for t in config.tasks)  # every task's, as a test
    for i, cell in enumerate(cells[:4]):  # the first train task, each reporter
        (truth,) = [s for s in stages if s.cell == i and s.stage == "truth"]
        (measure,) = [s for s in stages if s.cell == i and s.stage == "measure"]
        n = len(ctx.splits(cell.train, cell.seed).train_strong)
        halves = 1 if cell.reporter.name in ("probe", "mass-mean") else 2
        fit = {"probe": tp.probe_unit * n * d, "mass-mean": tp.mass_mean_unit * n * d,
               "ccs": tp.ccs_unit * n * d * 2 * 200,  # restarts x epochs of the CCS above
               "crc": tp.svd_unit * n * d * min(n, d)}[cell.reporter.name]  # fmt: skip
        items = len(ctx.task(cell.train).items) + tables  # the train task's, then the tests'
        read = tp.read_fixed * 4 + items * d * halves * 4 / tp.read_bytes  # 4 tables, float32
        assert sum(work_seconds(w, None, tp) or 0 for w in truth.work) == pytest.approx(read + fit)
        tests = [len(ctx.splits(t, cell.seed).test) for t in cell.tests]
        assert not measure.cached
        assert sum(work_seconds(w, None, tp) or 0 for w in measure.work) == pytest.approx(
            tp.detect_unit * 200 * sum(tests)
        )
