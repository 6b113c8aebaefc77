"""Contrast features from a shared prefix on the real embedded decoders (a Llama and a
Gemma3 with sliding-window layers): the same as one batched pass over both halves."""

from __future__ import annotations

import numpy as np
import pytest

from sandwich.models import FeatureSpec, load_model
from sandwich.models.hf import HFModel
from sandwich.store import ArtifactStore
from sandwich.tasks import TASKS
from sandwich.tasks.contrast import contrast_texts

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_shared_prefix_matches_one_pass_in_float32(name: str, shared_store: ArtifactStore) -> None:
    model = load_model(name, store=shared_store)
    assert isinstance(model, HFModel)
    model.progress = False
    pos, neg = contrast_texts(TASKS.build("cities", n_items=40).items)
    for pooling in ("last", "mean"):
        layers = (1, model.num_layers // 2, model.num_layers)
        spec = FeatureSpec(layers=layers, pooling=pooling, dtype="float32")  # type: ignore[arg-type]
        want = model.features(pos + neg, spec)
        got = np.concatenate(model.pair_features(pos, neg, spec))
        rel = np.abs(got - want).max() / np.abs(want).max()
        assert rel < 1e-5, (name, pooling, rel)  # measured: <= 4.2e-7
