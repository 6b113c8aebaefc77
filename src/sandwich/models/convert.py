"""Convert a model once (e.g. GGUF -> Hugging Face directory) into the artifact store.

Loading a GGUF file with transformers dequantizes every tensor (15-80 s on a
CPU); the result is saved as a plain HF directory (safetensors + tokenizer) in
the store under kind ``converted-model`` and loaded from there afterwards (a few
seconds). The key holds the source's identity (e.g. the GGUF file's sha256),
the transformers version and :data:`CONVERSION_VERSION`; the store verifies
every file on read and rebuilds a corrupt entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sandwich.store import ArtifactKey, ArtifactStore

log = logging.getLogger(__name__)

KIND = "converted-model"
CONVERSION_VERSION = 1
"""Bump when the conversion code changes what is written."""

Loader = Callable[[], tuple[Any, Any]]
"""Returns (model, tokenizer) ready to be saved with ``save_pretrained``."""


def conversion_key(source: Mapping[str, Any]) -> ArtifactKey:
    import transformers

    inputs = {"source": dict(source), "transformers": transformers.__version__}
    return ArtifactKey(KIND, CONVERSION_VERSION, inputs)


def save_converted(model: Any, tokenizer: Any, directory: Path) -> None:
    """Save a (possibly GGUF-loaded) model and its tokenizer as a plain HF directory.

    transformers refuses to save a model that still carries its GGUF quantizer,
    although its weights are already dequantized floats; dropping the quantizer
    and the quantization config makes it a plain float model (reloaded logits
    are identical).
    """
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def converted_dir(store: ArtifactStore, source: Mapping[str, Any], load: Loader) -> Path:
    """The store directory of the converted model, converting with ``load()`` if absent."""

    def build(tmp: Path) -> None:
        log.info("converting model %s (once; cached in %s)", dict(source), store.root)
        model, tokenizer = load()
        save_converted(model, tokenizer, tmp)

    return store.get_or_build(conversion_key(source), build)


def load_gguf(directory: Path, filename: str) -> tuple[Any, Any]:
    """Load a GGUF file with transformers, dequantized to float32 (needs gguf + accelerate)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=filename)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=filename, dtype=torch.float32)
    return model, tokenizer
