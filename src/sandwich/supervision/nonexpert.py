"""``nonexpert``: a simulated non-expert who knows the easy items and guesses the rest.

The error model, exactly (``K`` = knowledge, ``c`` = confidence, ``b`` = bias,
``g`` = guess_confidence):

1. **Which items it knows.** ``fit`` records the difficulties of A (the only
   thing it learns; it ignores A's labels). An item of difficulty ``d`` gets
   the rank ``r = F<(d) + u1 * (F<=(d) - F<(d))``, where ``F<`` and ``F<=`` are
   the shares of A's items with difficulty below / at most ``d`` (a
   randomised probability-integral transform: ties, e.g. a file without
   difficulties, are broken at random). It knows the item iff ``r < K``: on
   items distributed like A it knows a share ``K``, the easiest ones.
2. **Known items**: it answers correctly with probability ``c`` (``u2 < c``)
   and states P(true) = ``c`` if it answers true, ``1 - c`` if false.
3. **Unknown items**: it guesses "true" with probability ``0.5 + b/2``
   (``u3``), states P(true) = ``g`` for a "true" guess, ``1 - g`` for a "false".

So its expected accuracy is ``K*c + (1-K)*(p*(0.5+b/2) + (1-p)*(0.5-b/2))``
with ``p`` the share of true items among the unknown ones, which is
``K*c + (1-K)/2`` on balanced items; its yes-rate on balanced items is
``0.5 + (1-K)*b/2``. ``u1, u2, u3`` are uniform draws from a hash of
(``seed_salt``, the ``random_state`` given to ``fit``, the item id): the same
item gets the same answer whatever the order or batch it comes in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Self

import numpy as np

from sandwich.errors import ConfigError
from sandwich.supervision.base import FeatureSource, Supervisor
from sandwich.supervision.registry import SUPERVISORS
from sandwich.tasks.item import Item


def _check(name: str, value: float, lo: float, hi: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"nonexpert: {name} must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def item_uniforms(salt: str, random_state: int, item_id: str) -> tuple[float, float, float]:
    """Three independent uniforms in [0, 1) fixed by (salt, random_state, item id)."""
    h = hashlib.blake2b(f"{salt}|{random_state}|{item_id}".encode(), digest_size=24).digest()
    a, b, c = (int.from_bytes(h[8 * k : 8 * k + 8], "little") / 2.0**64 for k in range(3))
    return a, b, c


@SUPERVISORS.register("nonexpert", summary="simulated non-expert: knows easy items, guesses rest")
class NonExpertSupervisor(Supervisor):
    """Knows a ``knowledge`` share of items (the easiest), right on those with
    probability ``confidence``; guesses the rest with a yes-bias ``bias``.
    See the module docstring for the exact model."""

    def __init__(
        self,
        knowledge: float = 0.5,
        bias: float = 0.0,
        confidence: float = 0.9,
        guess_confidence: float = 0.6,
        seed_salt: str = "nonexpert",
    ) -> None:
        self.knowledge = _check("knowledge", knowledge, 0.0, 1.0)
        self.bias = _check("bias", bias, -1.0, 1.0)
        self.confidence = _check("confidence", confidence, 0.5, 1.0)
        self.guess_confidence = _check("guess_confidence", guess_confidence, 0.5, 1.0)
        if not isinstance(seed_salt, str):
            raise ConfigError(f"nonexpert: seed_salt must be a string, got {seed_salt!r}")
        self.seed_salt = seed_salt

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        if not items:
            raise ConfigError("nonexpert: fit needs at least one item (the A split is empty)")
        self.reference_ = np.sort(np.array([it.difficulty for it in items], dtype=np.float64))
        self.random_state_ = int(random_state)
        return self

    def _draws(self, items: Sequence[Item]) -> np.ndarray:
        if not hasattr(self, "reference_"):
            raise RuntimeError("NonExpertSupervisor used before fit")
        return np.array(
            [item_uniforms(self.seed_salt, self.random_state_, it.id) for it in items],
            dtype=np.float64,
        ).reshape(len(items), 3)

    def knows(self, items: Sequence[Item]) -> np.ndarray:
        """Whether it knows each item (step 1 of the model)."""
        u = self._draws(items)
        d = np.array([it.difficulty for it in items], dtype=np.float64)
        n = len(self.reference_)
        lo = np.searchsorted(self.reference_, d, side="left") / n
        hi = np.searchsorted(self.reference_, d, side="right") / n
        known: np.ndarray = lo + u[:, 0] * (hi - lo) < self.knowledge
        return known

    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        u = self._draws(items)
        gold = np.array([it.label for it in items], dtype=bool)
        known = self.knows(items)
        answer = np.where(
            known, np.where(u[:, 1] < self.confidence, gold, ~gold), u[:, 2] < 0.5 + self.bias / 2
        )
        stated = np.where(known, self.confidence, self.guess_confidence)
        return np.where(answer, stated, 1.0 - stated).astype(np.float64)
