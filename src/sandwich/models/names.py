"""Whether a string can name a model, checked at config load (nothing is loaded)."""

from __future__ import annotations

from pathlib import Path


def check_model_name(name: str) -> str | None:
    """None if ``name`` can name a model (registered, a local dir, a hub id), else why not."""
    from sandwich.models import MODELS

    if name in MODELS or Path(name).expanduser().is_dir():
        return None
    if name.startswith("hf:") or ("/" in name and not name.startswith((".", "/", "~"))):
        return None  # a hub id: resolved (offline by default) when the model loads
    return MODELS.unknown_message(name) + " (or give a local model directory or hf:<hub id>)"
