"""Write cities-assistance.jsonl: gemma3-270m's answers to the study's items.

The "model answer" of studies/cities-assisted.yaml: a logistic probe on
gemma3-270m's hidden states (the demo's strong model, default features),
trained on the task's items that are *not* in the study, with their gold
labels. Its P(true) on each study item becomes the answer and the
explanation. Runs the real model (docs/feedback.md gives the time it took
on a 2-core machine):

    .venv/bin/python studies/make_cities_assistance.py
"""

from __future__ import annotations

import json
from pathlib import Path

from sandwich.feedback.study_config import load_study
from sandwich.feedback.study_items import study_items
from sandwich.metrics import accuracy
from sandwich.runs.config import FeatureConfig
from sandwich.runs.features import TaskFeatures
from sandwich.store import ArtifactStore, atomic_write_text
from sandwich.supervision import WeakModelSupervisor

HERE = Path(__file__).parent
MODEL = "gemma3-270m"


def main() -> None:
    cfg = load_study(HERE / "cities-assisted.yaml")
    bare = cfg.model_copy(update={"conditions": [c for c in cfg.conditions if c.kind == "none"]})
    in_study = {it.key for it in study_items(bare)}
    task = cfg.task.load()
    train = [it for it in task.items if it.id not in in_study]
    asked = [it for it in task.items if it.id in in_study]
    features = TaskFeatures(ArtifactStore(), FeatureConfig()).source(task)
    probe = WeakModelSupervisor(MODEL).fit(train, features, random_state=0)
    p_true = probe.predict_proba(asked, features)
    acc = accuracy([it.label for it in asked], p_true)
    lines = []
    for it, p in zip(asked, p_true, strict=True):
        sure = max(p, 1 - p)
        lines.append(
            {
                "item_id": it.id,
                "answer": bool(p > 0.5),
                "explanation": (
                    f"A probe on {MODEL}'s hidden states, trained on {len(train)} other "
                    f"statements with expert answers, says {'true' if p > 0.5 else 'false'} "
                    f"with probability {sure:.0%}."
                ),
            }
        )
    out = HERE / "cities-assistance.jsonl"
    atomic_write_text(out, "".join(json.dumps(rec) + "\n" for rec in lines))
    print(f"wrote {out}: {len(lines)} items; the model's accuracy on them: {acc:.3f}")


if __name__ == "__main__":
    main()
