"""Fine-tuning end to end: a real embedded model, and the ``accelerate launch`` path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sandwich.runs import load_results, parse_config, run
from sandwich.store import ArtifactStore

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent


def test_finetune_cell_on_minilm(shared_store: ArtifactStore, tmp_path: Path) -> None:
    ft = {"mode": "lora", "epochs": 1, "lr": 1e-3, "max_length": 24, "minibatch_size": 8,
          "num_threads": 1}  # fmt: skip
    cfg = parse_config(
        {
            "name": "ft-minilm",
            "tasks": [{"name": "cities", "n_items": 240}],
            "weak": [{"name": "nonexpert", "params": {"knowledge": 0.5}}],
            "strong": ["minilm-l6"],
            "elicitors": [
                {"name": "finetune", "params": ft},
                {"name": "finetune", "label": "ft-logconf", "params": {**ft, "loss": "logconf"}},
            ],
            "seeds": [0],
            "bootstrap": {"n_boot": 200},
        }
    )
    out = run(cfg, runs_root=tmp_path, store=shared_store, progress=False)
    cells = {c.elicitor: c for c in out.results.cells}
    assert set(cells) == {"finetune", "ft-logconf"}
    for c in cells.values():
        assert c.n_test == 72 and c.specs["ceiling"] == (
            "finetune (lora, xent, select=weak, val_fraction=0.2) on B gold labels"
        )
        assert 0.0 <= c.student_acc <= 1.0 and 0.0 <= c.ceiling_acc <= 1.0
        assert c.student_acc_ci[0] <= c.student_acc <= c.student_acc_ci[1]
    # the fine-tuned student is not a constant: its predictions rank the test items
    p = out.outcomes[0].p_student
    assert np.std(p) > 1e-4
    assert cells["finetune"].ceiling_acc == cells["ft-logconf"].ceiling_acc  # shared


def test_accelerate_launch_trains_a_cell_in_two_cpu_processes(tmp_path: Path) -> None:
    sys.path.insert(0, str(HERE.parent / "elicit" / "finetune"))
    from conftest import build_llama, separable_task

    model = build_llama(tmp_path / "llama")
    texts, labels = separable_task(300, seed=5)
    lines = {json.dumps({"text": t, "label": bool(y)}) for t, y in zip(texts, labels, strict=True)}
    (tmp_path / "t.jsonl").write_text("\n".join(sorted(lines)) + "\n")
    ft = "{mode: full, epochs: 1, lr: 3.0e-3, batch_size: 8, minibatch_size: 2, max_length: 16}"
    (tmp_path / "c.yaml").write_text(
        f"name: acc\ntasks: [{{path: {tmp_path / 't.jsonl'}}}]\n"
        "weak: [{name: nonexpert, params: {knowledge: 0.5}}]\n"
        f"strong: [{model}]\nelicitors: [{{name: finetune, params: {ft}}},\n"
        f"  {{name: finetune, label: ft-logconf, params: {ft[:-1]}, loss: logconf}}}}]\n"
        "seeds: [0]\nbootstrap: {n_boot: 200}\n"
    )
    env = {**os.environ, "SANDWICH_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "sandwich", "run", str(tmp_path / "c.yaml"), "--runs", str(tmp_path / "runs"),
           "-q"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(next((tmp_path / "runs").iterdir()))
    cell = results.cells[0]
    assert cell.ceiling_acc > 0.9  # two processes together learned the separable task
    # logconf's whole-batch threshold pass runs on both processes (8 items = 2 x 2 x 2)
    logconf_cell = next(c for c in results.cells if c.elicitor == "ft-logconf")
    assert 0.0 <= logconf_cell.student_acc <= 1.0
    assert not any((tmp_path / "home" / "checkpoints").glob("*"))
