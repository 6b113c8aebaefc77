"""A FAKE model backend: deterministic, instant, numpy only. For tests and demos of the pipeline.

It is not a language model. It "knows" integer addition: a text containing
``"{a} + {b} = {c}"`` is parsed, and the model's *belief* about it is the truth
with probability ``skill`` and the opposite otherwise (decided per text by a
hash of (text, model name, seed), so the same text always gets the same
belief). Texts it cannot parse get a belief decided by the hash alone.
A text that ends with ``True`` or ``False`` (optionally ``Answer: True``; a
contrast pair, :mod:`sandwich.tasks.contrast`) is the statement before it,
asserted or negated: its belief is the statement's belief (drawn from the hash
of the text without the answer, so both halves of a pair share it), negated for
``False``.

Features of layer k (0..num_layers) are Gaussian noise fixed per (text, layer,
seed) plus ``(2 * belief - 1) * strength_k * direction_k``, where direction_k is
a fixed unit vector and strength_k grows linearly with depth (0 at layer 0).
A linear probe on the last layer therefore reaches about ``skill`` accuracy
against gold labels (the noise is small at depth, so the belief, not the noise,
limits accuracy); shallow layers are noisier.

Registered as ``fake-weak`` (skill 0.7), ``fake-mid`` (0.85), ``fake-strong`` (0.97).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from sandwich.config import Strict
from sandwich.models.base import FeatureSpec, Model, Pooling
from sandwich.registry import takes

STATEMENT = re.compile(r"(-?\d+) \+ (-?\d+) = (-?\d+)")
ANSWER = re.compile(r"\s+(?:Answer:\s*)?(True|False)\s*$")
LAST_LAYER_STRENGTH = 3.0


def _hash64(*parts: object) -> int:
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little")


def truth_of(text: str) -> bool | None:
    """True/False for a parsable addition statement, else None."""
    m = STATEMENT.search(text)
    if m is None:
        return None
    a, b, c = (int(g) for g in m.groups())
    return a + b == c


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Vectorized splitmix64 (uint64 arithmetic wraps, as intended)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _gaussian(text_seeds: np.ndarray, layer: int, dim: int) -> np.ndarray:
    """Standard normal noise (n, dim), a pure function of (text seed, layer, column)."""
    with np.errstate(over="ignore"):
        base = _splitmix64(text_seeds ^ np.uint64(_hash64("layer", layer)))
        counter = base[:, None] + np.arange(2 * dim, dtype=np.uint64)[None, :]
    u = ((_splitmix64(counter) >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    u1, u2 = u[:, :dim], u[:, dim:]
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


class FakeParams(Strict):
    """The fake backend's parameters (its skill is fixed by the registered name)."""

    dim: int = Field(32, ge=1, description="hidden size")
    num_layers: int = Field(4, ge=1, description="layers (features exist for 0..num_layers)")
    seed: int = Field(0, description="seed of the belief directions and noise")
    kind: Literal["encoder", "decoder"] = Field("decoder", description="reported kind")


class FakeModel(Model):
    """Deterministic fake backend (see module docstring). No torch, no weights."""

    def __init__(self, name: str = "fake", skill: float = 0.85, **params: Any) -> None:
        """``params``: :class:`FakeParams` (``dim``, ``num_layers``, ``seed``, ``kind``)."""
        if not 0.0 <= skill <= 1.0:
            raise ValueError(f"skill must be in [0, 1], got {skill}")
        p = FakeParams(**params)
        self.name, self.skill, self.dim, self.seed = name, float(skill), p.dim, p.seed
        self.kind = p.kind
        self._num_layers = p.num_layers
        rng = np.random.default_rng(_hash64("directions", name, p.seed) % 2**63)
        d = rng.standard_normal((p.num_layers + 1, p.dim))
        self._directions = d / np.linalg.norm(d, axis=1, keepdims=True)

    @property
    def num_layers(self) -> int:
        return self._num_layers

    @property
    def hidden_size(self) -> int:
        return self.dim

    @property
    def fingerprint(self) -> str:
        key = f"fake:v2:{self.name}:{self.skill}:{self.dim}:{self._num_layers}:{self.seed}"
        return hashlib.sha256(key.encode()).hexdigest()

    @property
    def default_pooling(self) -> Pooling:
        return "last"

    def belief(self, text: str) -> bool:
        """What the model "thinks" about the statement (deterministic per text; a contrast
        pair's halves share the statement's belief, negated for ``False``)."""
        answer = ANSWER.search(text)
        if answer is not None:
            stated = self.belief(text[: answer.start()])
            return stated if answer.group(1) == "True" else not stated
        h = _hash64("belief", text, self.name, self.seed)
        u = (h >> 11) / float(1 << 53)  # uniform in [0, 1)
        truth = truth_of(text)
        if truth is None:
            return bool(h & 1)
        return truth if u < self.skill else not truth

    def features(self, texts: Sequence[str], spec: FeatureSpec) -> np.ndarray:
        """(n, len(layers), dim) float32; ``pooling`` and ``dtype`` do not change the values
        (bfloat16 is emulated by rounding the mantissa, so the dtype is visible)."""
        layers = self.resolve_layers(spec.layers)
        n = len(texts)
        out = np.empty((n, len(layers), self.dim), dtype=np.float32)
        sign = np.array([2.0 * self.belief(t) - 1.0 for t in texts], dtype=np.float64)
        text_seeds = np.array([_hash64("noise", t, self.seed) for t in texts], dtype=np.uint64)
        for j, k in enumerate(layers):
            strength = LAST_LAYER_STRENGTH * k / self._num_layers
            scale = 1.0 / (1.0 + k)  # deeper layers are cleaner
            noise = _gaussian(text_seeds, k, self.dim)
            out[:, j] = noise * scale + sign[:, None] * strength * self._directions[k]
        if spec.dtype == "bfloat16":
            out = (out.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
        return out

    def __repr__(self) -> str:
        return f"FakeModel({self.name!r}, skill={self.skill})"


@takes(FakeParams)
def fake_weak(**params: Any) -> FakeModel:
    return FakeModel(name="fake-weak", skill=0.7, **params)


@takes(FakeParams)
def fake_mid(**params: Any) -> FakeModel:
    return FakeModel(name="fake-mid", skill=0.85, **params)


@takes(FakeParams)
def fake_strong(**params: Any) -> FakeModel:
    return FakeModel(name="fake-strong", skill=0.97, **params)
