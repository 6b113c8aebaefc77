"""Models: named backends that embed text into hidden states per layer.

``load_model(name_or_path)`` resolves, in order: a registered name (``MODELS``:
the embedded models and the fake backend), an existing local directory, a
Hugging Face hub id (``hf:org/name`` or ``org/name``; offline by default, see
:mod:`sandwich.models.hf`). Nothing is loaded until features are requested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandwich.models.base import FeatureSpec, Model
from sandwich.models.hf import HFModel, from_hub, from_path, is_hub_id
from sandwich.models.registry import MODELS
from sandwich.store import ArtifactStore

__all__ = ["MODELS", "FeatureSpec", "Model", "load_model"]


def load_model(name_or_path: str, store: ArtifactStore | None = None, **kwargs: Any) -> Model:
    """The model called ``name_or_path`` (registered name, local directory or hub id).

    ``store`` is where converted models are cached (default: ``$SANDWICH_HOME``).
    ``kwargs`` go to the backend (e.g. ``allow_download=True`` for a hub id,
    ``progress=False``). Raises UnknownNameError (with the nearest names) for an
    unknown name that is neither a path nor hub-like, OfflineError for a hub id
    that is not cached.
    """
    if name_or_path in MODELS:  # kwargs that are not Params go to the factory as they are
        declared = MODELS.entry(name_or_path).params_model
        fields = declared.model_fields if declared is not None else {}
        params = {k: v for k, v in kwargs.items() if k in fields}
        runtime = {k: v for k, v in kwargs.items() if k not in fields}
        model = MODELS.build_with(name_or_path, params, **runtime)
    elif Path(name_or_path).expanduser().is_dir():
        model = from_path(name_or_path, **kwargs)
    elif is_hub_id(name_or_path):
        model = from_hub(name_or_path, **kwargs)
    else:
        MODELS.entry(name_or_path)  # raises UnknownNameError with "did you mean"
        raise AssertionError("unreachable")
    if store is not None and isinstance(model, HFModel):
        model.store = store
    return model
