"""The model registry: embedded models and the fake backend register by name.

``load_model(name)`` also accepts a local directory or a Hugging Face hub id
(``hf:<id>`` or any name containing "/"); see ``sandwich.models.hf``.
"""

from __future__ import annotations

from sandwich.models.base import Model
from sandwich.registry import Registry

MODELS: Registry[Model] = Registry("model")

_E, _F = "sandwich.models.embedded", "sandwich.models.fake"
MODELS.lazy("fake-mid", f"{_F}:fake_mid", "FAKE deterministic backend for tests (skill 0.85)")
MODELS.lazy("fake-strong", f"{_F}:fake_strong", "FAKE deterministic backend for tests (skill 0.97)")
MODELS.lazy("fake-weak", f"{_F}:fake_weak", "FAKE deterministic backend for tests (skill 0.7)")
MODELS.lazy("gemma3-270m", f"{_E}:gemma3_270m",
            "Gemma 3 270M base decoder, 18 layers, 640-d (GGUF)")  # fmt: skip
MODELS.lazy("minilm-l6", f"{_E}:minilm_l6", "all-MiniLM-L6-v2 encoder, 6 layers, 384-d (22M)")
MODELS.lazy("smollm2-135m", f"{_E}:smollm2_135m",
            "SmolLM2-135M-Instruct decoder, 30 layers, 576-d (GGUF)")  # fmt: skip
