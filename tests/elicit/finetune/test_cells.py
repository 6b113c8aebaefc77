"""Fine-tune cells through the whole pipeline on tiny local models: results, ceilings, chains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sandwich.elicit.finetune.elicitor import FineTuneElicitor, _error_rate
from sandwich.elicit.finetune.losses import LOSSES, xent
from sandwich.errors import ConfigError
from sandwich.models import load_model
from sandwich.registry import NoParams
from sandwich.runs import parse_config, run
from sandwich.runs.context import RunContext
from sandwich.store import ArtifactStore

from .conftest import build_llama, separable_task

FT = {"mode": "full", "epochs": 2, "lr": 3e-3, "batch_size": 8, "minibatch_size": 4,
      "max_length": 16, "checkpoint_every": 2}  # fmt: skip


def task_file(path: Path, n: int = 400) -> Path:
    texts, labels = separable_task(n, seed=5)
    seen: set[str] = set()
    with path.open("w") as f:
        for text, label in zip(texts, labels, strict=True):
            if text not in seen:  # item ids are content hashes: no duplicates
                seen.add(text)
                f.write(json.dumps({"text": text, "label": bool(label)}) + "\n")
    return path


def config(tmp_path: Path, strong: str, elicitors: list[Any], n: int = 400) -> Any:
    return parse_config(
        {
            "name": "ft",
            "tasks": [{"path": str(task_file(tmp_path / "cities.jsonl", n))}],
            "weak": [{"name": "nonexpert", "params": {"knowledge": 0.5}}],
            "strong": [strong],
            "elicitors": elicitors,
            "seeds": [0],
            "bootstrap": {"n_boot": 200},
        }
    )


def test_finetune_cells_sit_next_to_probe_cells_with_their_own_ceiling(
    llama_dir: Path, tmp_path: Path
) -> None:
    elicitors = [
        "probe",
        {"name": "finetune", "label": "ft", "params": FT},
        {"name": "finetune", "label": "ft-logconf", "params": {**FT, "loss": "logconf"}},
        {"name": "finetune", "label": "ft-oracle", "params": {**FT, "select": "oracle"}},
    ]
    store = ArtifactStore(tmp_path / "store")
    cfg = config(tmp_path, str(llama_dir), elicitors)
    out = run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    by = {c.elicitor: c for c in out.results.cells}
    assert set(by) == {"probe", "ft", "ft-logconf", "ft-oracle"}
    assert by["probe"].specs["ceiling"] == "probe on B gold labels"
    for name in ("ft", "ft-logconf"):
        assert by[name].specs["ceiling"] == (
            "finetune (full, xent, select=weak, val_fraction=0.2) on B gold labels"
        )
        # one fine-tuned ceiling, shared by every cell that trains the model the same way
        assert by[name].ceiling_acc == by["ft"].ceiling_acc
    for name in ("ft", "ft-logconf", "ft-oracle"):
        assert by[name].student_acc_ci[0] <= by[name].student_acc <= by[name].student_acc_ci[1]
    # the oracle student's ceiling selects as it does (by accuracy on held-out gold)
    assert by["ft-oracle"].specs["ceiling_params"]["select"] == "oracle"
    assert by["ft"].specs["ceiling_params"] == {**FT, **by["ft"].specs["ceiling_params"]}
    assert by["ft"].ceiling_acc > 0.9  # the tiny model learns the separable task from gold
    assert by["ft"].student_acc > by["ft"].weak_acc  # and beats its 75%-accurate supervisor
    assert "oracle" in by["ft-oracle"].flags and "oracle" not in by["ft"].flags
    n_ceilings = len(list((store.root / "artifacts" / "ceiling").glob("*/*/MANIFEST.json")))
    assert n_ceilings == 3  # the probe's, one for ft and ft-logconf, one for ft-oracle
    assert not any((store.root / "checkpoints").glob("*"))  # removed once stored
    report = (out.run_dir / "report.md").read_text()
    assert "## Elicitors side by side" in report and "ft-logconf acc" in report
    assert "ORACLE diagnostic" in report

    again = run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    assert [c.student_acc for c in again.results.cells] == [
        c.student_acc for c in out.results.cells
    ]


def test_a_three_model_bootstrapping_chain_runs_end_to_end(
    llama_dir: Path, bert_dir: Path, tmp_path: Path
) -> None:
    mid = build_llama(tmp_path / "mid-llama", seed=1)
    chain = {
        "name": "finetune",
        "label": "boot",
        "params": {**FT, "chain": [str(bert_dir), str(mid)]},
    }
    out = run(
        config(tmp_path, str(llama_dir), [chain]),
        runs_root=tmp_path / "runs",
        store=ArtifactStore(tmp_path / "store"),
        progress=False,
    )
    cell = out.results.cells[0]
    links = cell.specs["chain"]
    assert [link["model"] for link in links] == [str(bert_dir), str(mid)]
    assert all(0.0 <= link["test_acc"] <= 1.0 for link in links)
    assert links[0]["test_acc"] > cell.weak_acc - 0.1  # each link learns from the previous
    assert "## Bootstrapping chains" in (out.run_dir / "report.md").read_text()


def test_bad_finetune_params_fail_when_the_config_loads(tmp_path: Path) -> None:
    bad = [
        ({"loss": "xentt"}, "Did you mean 'xent'"),
        ({"loss": "logconf", "loss_params": {"aux": 1}}, "loss_params for 'logconf'"),
        ({"mode": "qlora"}, "mode: Input should be 'lora', 'full' or 'top'"),
        ({"max_length": 2}, "max_length: Input should be greater than or equal to 4"),
        ({"batch_size": 10, "minibatch_size": 4}, "multiple of minibatch_size"),
        ({"chain": ["no-such-model"]}, "elicitors.0.params.chain.0"),
    ]
    for params, message in bad:
        with pytest.raises(ConfigError, match=message):
            config(tmp_path, "fake-strong", [{"name": "finetune", "params": params}])


def test_a_model_without_weights_cannot_be_fine_tuned(tmp_path: Path) -> None:
    cfg = config(tmp_path, "fake-strong", [{"name": "finetune", "params": FT}])
    with pytest.raises(ConfigError, match="has none"):
        run(cfg, runs_root=tmp_path / "runs", store=ArtifactStore(tmp_path / "s"), progress=False)


CRASH = {"after": -1, "calls": 0}


class Killed(Exception):
    pass


@LOSSES.register(
    "test-killable-xent", summary="xent that raises after CRASH['after'] calls", params=NoParams
)
def killable_xent(logits: Any, labels: Any, step_frac: float) -> Any:
    CRASH["calls"] += 1
    if 0 <= CRASH["after"] < CRASH["calls"]:
        raise Killed
    return xent(logits, labels)


def test_a_killed_finetune_cell_resumes_from_its_checkpoint(
    llama_dir: Path, tmp_path: Path
) -> None:
    ft = {"name": "finetune", "params": {**FT, "loss": "test-killable-xent", "select": "last"}}
    cfg = config(tmp_path, str(llama_dir), [ft])
    whole = run(
        cfg, runs_root=tmp_path / "r1", store=ArtifactStore(tmp_path / "s1"), progress=False
    )

    store = ArtifactStore(tmp_path / "s2")
    CRASH.update(after=35, calls=0)  # the ceiling (xent) trains; the student dies mid-way
    try:
        with pytest.raises(Killed):
            run(cfg, runs_root=tmp_path / "r2", store=store, progress=False)
    finally:
        CRASH.update(after=-1, calls=0)
    states = list((store.root / "checkpoints").glob("*/link-0/state.pt"))
    assert len(states) == 1  # written under the cell's content key
    resumed = run(cfg, runs_root=tmp_path / "r2", store=store, progress=False)
    assert CRASH["calls"] < 70  # only the rest of the training ran
    a, b = whole.outcomes[0], resumed.outcomes[0]
    assert np.allclose(a.p_student, b.p_student, atol=1e-6)
    assert not any((store.root / "checkpoints").glob("*/*"))


def test_oracle_selection_scores_ties_as_the_reported_accuracy_does() -> None:
    # P(true) = 1/2 is a "false" prediction, as in metrics.accuracy (the cells' accuracies)
    gold = np.array([1.0, 0.0, 1.0])
    assert _error_rate(gold, np.array([0.5, 0.2, 0.9])) == pytest.approx(1 / 3)


SMALL = {**FT, "epochs": 1, "evals_per_epoch": 2}


@pytest.mark.parametrize("val_fraction", [0.0, 0.2])
@pytest.mark.parametrize("select", ["weak", "oracle", "last"])
def test_every_selection_setting_that_validates_runs_and_its_ceiling_trains_alike(
    select: str, val_fraction: float, llama_dir: Path, tmp_path: Path
) -> None:
    params = {**SMALL, "select": select, "val_fraction": val_fraction}
    elicitors = [{"name": "finetune", "label": "ft", "params": params}]
    if select != "last" and val_fraction == 0:  # nothing to select on: rejected, by field
        with pytest.raises(ConfigError, match=r"elicitors\.0\.params: .*needs val_fraction > 0"):
            config(tmp_path, str(llama_dir), elicitors, n=160)
        return
    cfg = config(tmp_path, str(llama_dir), elicitors, n=160)
    store = ArtifactStore(tmp_path / "store")
    out = run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    cell = out.results.cells[0]
    held = "" if select == "last" else f", val_fraction={val_fraction:g}"
    assert cell.specs["ceiling"] == f"finetune (full, xent, select={select}{held}) on B gold labels"
    assert cell.specs["ceiling_params"]["select"] == select
    # the ceiling is the student's recipe (same data and selection settings) on B's gold
    # labels with xent: train that directly and compare its predictions on T
    ctx = RunContext(cfg, store, progress=False)
    splits = ctx.splits(cfg.tasks[0], 0)
    task = ctx.task(cfg.tasks[0])
    gold_b = task.labels(splits.train_strong).astype(np.float64)
    direct = FineTuneElicitor(**params).fit_text(
        [load_model(str(llama_dir))], task.texts(splits.train_strong), gold_b,
        random_state=0, gold=gold_b,
    )  # fmt: skip
    expected = direct.predict_proba_text(task.texts(splits.test))
    np.testing.assert_allclose(out.outcomes[0].p_ceiling, expected, atol=1e-5)


def test_results_show_what_auto_chose_also_after_a_cached_rerun(
    llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auto = {**FT, "epochs": 1, "select": "last", "lr": "auto", "pooling": "auto"}
    weak = {"name": "weak-model", "model": str(build_llama(tmp_path / "weak", seed=3, hidden=16)),
            "params": {"method": "finetune", "elicitor_params": auto}}  # fmt: skip
    cfg = config(tmp_path, str(llama_dir), [{"name": "finetune", "params": auto}], n=60)
    cfg = parse_config({**cfg.document(), "weak": [weak]})
    store = ArtifactStore(tmp_path / "store")
    first = run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    resolved = first.results.cells[0].specs["resolved"]
    # full fine-tuning of a model below 400M parameters: the reference lr, 5e-5; a decoder
    for params in (resolved["elicitor"]["params"], resolved["ceiling"]["params"],
                   resolved["weak"]["params"]["elicitor_params"]):  # fmt: skip
        assert (params["lr"], params["pooling"], params["mixed_precision"]) == (5e-5, "last", "no")
    # the cache keys hold the params as configured: the choice depends on the model
    manifests = (store.root / "artifacts").glob("predictions/*/*/MANIFEST.json")
    assert [json.loads(m.read_text())["inputs"]["elicitor"]["params"]["lr"] for m in manifests] == [
        "auto"
    ]
    monkeypatch.setattr(FineTuneElicitor, "fit_text", lambda *a, **k: pytest.fail("refit"))
    again = run(cfg, runs_root=tmp_path / "runs", store=store, progress=False)
    assert again.results.cells[0].specs["resolved"] == resolved
