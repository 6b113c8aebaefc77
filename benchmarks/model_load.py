"""Embedded model loading: first load (GGUF conversion into an empty store) vs reload.

Usage: .venv/bin/python benchmarks/model_load.py [MODEL ...]   (default: all three)

"Load" is what the first features() call pays: converting (once) and reading
the backbone and tokenizer into memory. Each reload uses a new model object
over the same store, as a second run in a new process would.
"""

from __future__ import annotations

import sys
import tempfile
import time

from sandwich.models import load_model
from sandwich.models.hf import HFModel
from sandwich.store import ArtifactStore


def timed_load(name: str, store: ArtifactStore) -> float:
    model = load_model(name, store=store, progress=False)
    assert isinstance(model, HFModel)
    start = time.perf_counter()
    model.module()
    model.tokenizer()
    return time.perf_counter() - start


def main() -> None:
    names = sys.argv[1:] or ["minilm-l6", "smollm2-135m", "gemma3-270m"]
    print(f"{'model':<16}{'first load s':>14}{'reload s':>10}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(tmp)
        for name in names:
            cold = timed_load(name, store)
            warm = timed_load(name, store)
            print(f"{name:<16}{cold:>14.1f}{warm:>10.1f}{cold / warm:>8.1f}")


if __name__ == "__main__":
    main()
