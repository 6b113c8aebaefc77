"""Conversion into the artifact store: cached once, verified, rebuilt when corrupt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sandwich.models import FeatureSpec
from sandwich.models.convert import conversion_key, converted_dir
from sandwich.models.hf import HFModel
from sandwich.store import ArtifactStore

TEXTS = ["the city of paris is in france .", "rome is in italy ."]


def tiny_loader(directory: Path, calls: list[int]) -> Any:
    def load() -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        calls.append(1)
        return AutoModelForCausalLM.from_pretrained(directory), AutoTokenizer.from_pretrained(
            directory
        )

    return load


def test_converted_once_then_loaded_from_store(tiny_llama_dir: Path, store: ArtifactStore) -> None:
    calls: list[int] = []
    source = {"name": "tiny", "sha256": "0" * 64}
    first = converted_dir(store, source, tiny_loader(tiny_llama_dir, calls))
    second = converted_dir(store, source, tiny_loader(tiny_llama_dir, calls))
    assert calls == [1] and first == second
    assert store.lookup(conversion_key(source)) == first
    a = HFModel("tiny", first).features(TEXTS, FeatureSpec(layers=(1, 2)))
    b = HFModel("tiny", tiny_llama_dir).features(TEXTS, FeatureSpec(layers=(1, 2)))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_lazy_source_converts_on_first_features(tiny_llama_dir: Path, store: ArtifactStore) -> None:
    calls: list[int] = []
    loader = tiny_loader(tiny_llama_dir, calls)
    model = HFModel(
        "tiny",
        lambda s: converted_dir(s, {"name": "lazy"}, loader),
        info=("decoder", 2, 16),
        store=store,
    )
    assert model.num_layers == 2 and calls == []  # metadata needs no conversion
    assert model.features(TEXTS, FeatureSpec()).shape == (2, 1, 16)
    assert calls == [1]


def test_corrupt_entry_is_detected_and_rebuilt(tiny_llama_dir: Path, store: ArtifactStore) -> None:
    calls: list[int] = []
    source = {"name": "tiny-corrupt"}
    path = converted_dir(store, source, tiny_loader(tiny_llama_dir, calls))
    weights = path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    again = converted_dir(store, source, tiny_loader(tiny_llama_dir, calls))
    assert calls == [1, 1]
    assert store.corrupt_found == [conversion_key(source).hex]
    store.verify(again)  # the rebuilt entry is intact
    assert HFModel("tiny", again).features(TEXTS, FeatureSpec()).shape == (2, 1, 16)
