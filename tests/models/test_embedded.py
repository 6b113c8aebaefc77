"""The real embedded models (slow: the first GGUF conversion takes minutes on a CPU)."""

from __future__ import annotations

import pytest

from sandwich.models import MODELS, FeatureSpec, load_model
from sandwich.models import convert as convert_module
from sandwich.models.convert import KIND
from sandwich.models.hf import HFModel
from sandwich.store import ArtifactStore

TEXTS = ["The city of Paris is in France.", "The city of Lyon is in Germany, said nobody."]
SHAPES = {"minilm-l6": (6, 384), "smollm2-135m": (30, 576), "gemma3-270m": (18, 640)}


def test_listing_is_instant_and_loads_nothing(store: ArtifactStore) -> None:
    for name in SHAPES:
        model = load_model(name, store=store)
        assert isinstance(model, HFModel) and model.load_count == 0
        assert (model.num_layers, model.hidden_size) == SHAPES[name]
        assert len(model.fingerprint) == 64
    assert not (store.root / "artifacts").exists()  # nothing converted
    assert {"minilm-l6", "smollm2-135m", "gemma3-270m"} <= set(MODELS.names())


@pytest.mark.integration
@pytest.mark.parametrize("name", list(SHAPES))
def test_embedded_model_features(
    name: str, shared_store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model(name, store=shared_store, progress=False)
    assert isinstance(model, HFModel)
    layers, hidden = SHAPES[name]
    x = model.features(TEXTS, model.default_spec(layers=(0, layers // 2, -1)))
    assert x.shape == (2, 3, hidden)
    assert (x[0] != x[1]).any()
    if name == "minilm-l6":
        return
    # converted once: a fresh object loads from the store and never calls the converter
    converted = list((shared_store.root / "artifacts" / KIND).glob("*/*/MANIFEST.json"))
    assert converted

    def fail(*_a: object, **_k: object) -> None:
        raise AssertionError("the converter was called although the store has the model")

    monkeypatch.setattr(convert_module, "load_gguf", fail)
    again = load_model(name, store=shared_store, progress=False)
    y = again.features(TEXTS, FeatureSpec(layers=(0, layers // 2, -1)))
    assert y.shape == x.shape
    assert again.directory.parent.parent.name == KIND  # type: ignore[attr-defined]
