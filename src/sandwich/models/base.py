"""Model: a named backend that embeds text into hidden states per layer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from sandwich.errors import ConfigError

Pooling = Literal["last", "mean"]
DType = Literal["float32", "bfloat16"]
SpecDType = Literal["auto", "float32", "bfloat16"]
SpecBatch = int | Literal["auto"]


@dataclass(frozen=True)
class FeatureSpec:
    """Which hidden states to extract.

    ``layers``: layer indices; 0 is the embedding output, ``num_layers`` the
    last block; negative indices count from the end (-1 = last block).
    ``pooling``: "last" (last real token; the default for decoders) or "mean"
    (mean over real tokens; the usual choice for encoders).
    ``dtype``: compute dtype of the forward pass; features are returned as float32.
    ``auto`` (the default) is resolved per model and machine by
    :meth:`Model.resolve_spec` (bfloat16 where it measured faster and close enough,
    see :mod:`sandwich.models.precision`); cache keys use the resolved dtype.
    ``batch_size``: items per forward pass (at most; a token budget also caps it);
    ``auto`` (the default) is the compute dtype's own (:func:`sandwich.models.precision.
    batch_size`: 32 in float32, 128 in bfloat16, whose matmuls need bigger batches to
    reach their speed). It does not change the features, so it is not in cache keys.
    """

    layers: tuple[int, ...] = (-1,)
    pooling: Pooling = "last"
    dtype: SpecDType = "auto"
    batch_size: SpecBatch = "auto"
    max_length: int = 128

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": list(self.layers),
            "pooling": self.pooling,
            "dtype": self.dtype,
            "max_length": self.max_length,
        }  # batch_size does not change the features, so it is not part of cache keys


@dataclass(frozen=True)
class Backbone:
    """What fine-tuning needs from a model: the torch module, its tokenizer, its kind."""

    module: Any
    tokenizer: Any
    kind: Literal["encoder", "decoder"]


class Model(ABC):
    """A backend that can embed texts. Subclasses: embedded/HF, fake.

    ``fingerprint`` identifies the weights (and anything else that changes the
    features) so feature caches are keyed on content, not on names.
    """

    name: str
    kind: Literal["encoder", "decoder"]

    @property
    @abstractmethod
    def num_layers(self) -> int: ...

    @property
    @abstractmethod
    def hidden_size(self) -> int: ...

    @property
    @abstractmethod
    def fingerprint(self) -> str: ...

    @abstractmethod
    def features(self, texts: Sequence[str], spec: FeatureSpec) -> np.ndarray:
        """Hidden states, shape (len(texts), len(spec.layers), hidden_size), float32."""

    def pair_features(
        self, pos: Sequence[str], neg: Sequence[str], spec: FeatureSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features of text pairs: (``features(pos)``, ``features(neg)``), each
        (len(pos), len(spec.layers), hidden_size). Here one batched call over ``pos + neg``;
        a causal transformers model runs each pair's shared prefix once instead
        (:meth:`sandwich.models.hf.HFModel.pair_features`)."""
        if len(pos) != len(neg):
            raise ValueError(
                f"pair features need as many neg texts as pos texts; got {len(pos)} pos, "
                f"{len(neg)} neg"
            )
        x = self.features([*pos, *neg], spec)
        return x[: len(pos)], x[len(pos) :]

    def auto_dtype(self) -> DType:
        """What ``dtype: auto`` means for this model here. A backend without a
        compute dtype of its own (the fake model) keeps float32."""
        return "float32"

    def feature_kernel(self, dtype: SpecDType) -> tuple[DType, bool]:
        """How features asked for in ``dtype`` compute here: the resolved dtype, and
        whether on packed linears (:mod:`sandwich.models.prepack`). The planner costs
        feature forwards by it."""
        return (self.auto_dtype() if dtype == "auto" else dtype), False

    def resolve_spec(self, spec: FeatureSpec) -> FeatureSpec:
        """``spec`` with ``dtype: auto`` replaced by :meth:`auto_dtype` (what keys must use)."""
        return spec if spec.dtype != "auto" else replace(spec, dtype=self.auto_dtype())

    def training_backbone(self) -> Backbone:
        """A fresh trainable copy of the weights, for fine-tuning; a model without any raises."""
        msg = "fine-tuning needs a transformers model with weights; {!r} has none (use a probe)"
        raise ConfigError(msg.format(self.name))

    def resolve_layers(self, layers: Sequence[int]) -> tuple[int, ...]:
        """Map possibly negative layer indices to 0..num_layers; raise on out-of-range."""
        out = []
        for layer in layers:
            idx = layer + self.num_layers + 1 if layer < 0 else layer
            if not 0 <= idx <= self.num_layers:
                raise ValueError(
                    f"layer {layer} out of range for model {self.name!r} "
                    f"(0..{self.num_layers}, or -1..-{self.num_layers + 1})"
                )
            out.append(idx)
        return tuple(out)
