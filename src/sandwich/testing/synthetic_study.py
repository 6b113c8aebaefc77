"""A synthetic study for load tests and benchmarks: a JSONL task of numbered
statements (even numbers true), a model-answer assistance file (the model is
right on 80% of items), and the study YAML (conditions ``unassisted`` and
``assisted``, between-rater design), all written into one directory."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from sandwich.feedback.store.db import session_factory
from sandwich.feedback.store.migrate import migrate
from sandwich.feedback.store.studies import create_study, get_study, study_truth
from sandwich.feedback.study_config import load_study
from sandwich.tasks.item import item_id


def write_synthetic_study(
    directory: Path,
    name: str = "load",
    n_task: int = 400,
    n_items: int = 300,
    overlap: int = 3,
    items_per_rater: int = 8,
    n_gold: int = 2,
    n_training: int = 1,
) -> Path:
    """Write the task, assistance and study files; return the study YAML's path."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = [f"Statement number {i} is true." for i in range(n_task)]
    labels = [i % 2 == 0 for i in range(n_task)]
    items = [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)]
    (directory / "task.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    assist = [
        {
            "item_id": item_id(t, y),
            "answer": y if i % 5 else not y,  # the model is wrong on every fifth item
            "explanation": f"Statement {i}: the model checked the parity.",
        }
        for i, (t, y) in enumerate(zip(texts, labels, strict=True))
    ]
    (directory / "assist.jsonl").write_text("".join(json.dumps(r) + "\n" for r in assist))
    study = {
        "name": name,
        "task": {"path": "task.jsonl"},
        "n_items": n_items,
        "conditions": [
            {"name": "unassisted", "kind": "none"},
            {"name": "assisted", "kind": "model-answer", "path": "assist.jsonl"},
        ],
        "design": "between",
        "overlap": overlap,
        "items_per_rater": items_per_rater,
        "gold": {"n": n_gold, "pass_threshold": 0.5},
        "training": {"n": n_training},
        "completion_code": "LOAD-DONE",
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def create_synthetic_study(
    db_url: str, directory: Path, n_items: int, n_task: int | None = None
) -> dict[str, bool]:
    """Write the synthetic study (``overlap`` 3) into ``directory``, create it in
    the database at ``db_url`` (migrated first) and return its statement ->
    truth map for simulated raters. ``n_task`` defaults to ``n_items + 50``."""
    path = write_synthetic_study(
        directory, n_task=n_items + 50 if n_task is None else n_task, n_items=n_items, overlap=3
    )
    engine = migrate(db_url)
    try:
        with session_factory(engine).begin() as s:
            name = create_study(s, load_study(path)).name
        with session_factory(engine)() as s:
            return study_truth(s, get_study(s, name))
    finally:
        engine.dispose()
