"""Small study files for the web-app tests: a JSONL task and a model-answer file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from sandwich.tasks.item import item_id

XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


def write_study(
    tmp: Path,
    *,
    name: str = "demo-study",
    n_task: int = 40,
    explanation: str = "The model looked this up.",
    **overrides: Any,
) -> Path:
    """A task of ``n_task`` statements, an assistance file covering all of them,
    and a study YAML (two conditions, between design); returns the YAML path."""
    tmp.mkdir(parents=True, exist_ok=True)
    items = [
        {"text": f"Statement number {i} is true.", "label": i % 2 == 0} for i in range(n_task)
    ]
    (tmp / "task.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    help_lines = [
        {
            "item_id": item_id(r["text"], r["label"]),
            "answer": r["label"],
            "explanation": explanation,
        }
        for r in items
    ]
    (tmp / "assist.jsonl").write_text("".join(json.dumps(r) + "\n" for r in help_lines))
    study: dict[str, Any] = {
        "name": name,
        "task": {"path": "task.jsonl"},
        "n_items": 12,
        "conditions": [
            {"name": "unassisted", "kind": "none"},
            {"name": "assisted", "kind": "model-answer", "path": "assist.jsonl"},
        ],
        "design": "between",
        "overlap": 2,
        "items_per_rater": 4,
        "gold": {"n": 2, "pass_threshold": 0.5},
        "training": {"n": 1},
        "completion_code": "DONE-1234",
    }
    study.update(overrides)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path
