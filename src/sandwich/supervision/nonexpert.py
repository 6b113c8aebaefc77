"""``nonexpert``: a simulated non-expert who knows some items and errs on the rest.

Two error models, chosen by ``errors``. ``random`` (the default) knows the
easiest items and guesses the rest at random; ``systematic`` has blind spots
that follow a named item attribute and answers them by one consistent wrong
rule, the way real non-experts err (a misconception about a whole region, a
habit of agreeing with what they cannot check). At equal accuracy, systematic
errors are the harder test: a strong student can learn the rule and imitate
it, where random errors average out (``tests/supervision/test_nonexpert.py``).

The ``random`` error model, exactly (``K`` = knowledge, ``c`` = confidence, ``b`` = bias,
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

The ``systematic`` error model (``attribute`` = a metadata key, ``H`` =
``heuristic``):

1. **Blind spots.** ``fit`` counts A's items per value of ``attribute`` (for
   ``cities``: ``continent`` or ``country``), orders the values by a hash of
   (``seed_salt``, ``random_state``, value) and makes the first values blind
   spots until they hold at least a ``1 - K`` share of A's items (whole
   values, so the share can overshoot by one value's items). A value A never
   showed is a blind spot with probability ``1 - K`` (hash of the value).
   Without ``attribute``, the blind spot is the hardest ``1 - K`` share by
   difficulty, ranked as in the random model.
2. **Other items**: as known items above (right with probability ``c``).
3. **Blind-spot items**: answered by the rule ``H``, stated with confidence
   ``g``: ``true`` says "true" to all of them (acquiescence), ``false`` says
   "false", ``flip`` holds the opposite of the truth (a misconception).

Expected accuracy on balanced items with blind-spot share ``s``:
``(1-s)*c + s/2`` for ``true``/``false`` (the same as the random model at
``K = 1 - s`` with ``b = 0``: only the structure of the errors differs) and
``(1-s)*c`` for ``flip``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Literal, Self

import numpy as np
from pydantic import Field, model_validator

from sandwich.config import Strict
from sandwich.errors import ConfigError, required
from sandwich.supervision.base import FeatureSource, Supervisor
from sandwich.tasks.item import Item


def item_uniforms(salt: str, random_state: int, item_id: str) -> tuple[float, float, float]:
    """Three independent uniforms in [0, 1) fixed by (salt, random_state, item id)."""
    h = hashlib.blake2b(f"{salt}|{random_state}|{item_id}".encode(), digest_size=24).digest()
    a, b, c = (int.from_bytes(h[8 * k : 8 * k + 8], "little") / 2.0**64 for k in range(3))
    return a, b, c


Errors = Literal["random", "systematic"]
Heuristic = Literal["true", "false", "flip"]


def _uniform(salt: str, random_state: int, key: str) -> float:
    return item_uniforms(salt, random_state, key)[0]


class NonExpertSupervisor(Supervisor):
    """Knows a ``knowledge`` share of items, right on those with probability
    ``confidence``. ``errors="random"``: the rest are the hardest items,
    guessed with a yes-bias ``bias``. ``errors="systematic"``: the rest are
    blind spots chosen by ``attribute``, answered by ``heuristic``.
    See the module docstring for the exact models."""

    class Params(Strict):
        knowledge: float = Field(0.5, ge=0.0, le=1.0, description="share of items it knows")
        bias: float = Field(
            0.0,
            ge=-1.0,
            le=1.0,
            description="random errors: yes-bias of a guess (P(yes) = 0.5 + bias/2)",
        )
        confidence: float = Field(
            0.9, ge=0.5, le=1.0, description="P(right) on a known item, and the P it states"
        )
        guess_confidence: float = Field(
            0.6, ge=0.5, le=1.0, description="the P it states on a guess"
        )
        seed_salt: str = Field("nonexpert", description="salt of its per-item draws")
        errors: Errors = Field(
            "random", description="random (the hardest items guessed) or systematic (blind spots)"
        )
        attribute: str | None = Field(
            None,
            min_length=1,
            description="systematic: the metadata key whose values are blind spots",
        )
        heuristic: Heuristic = Field("true", description="systematic: answer in a blind spot")

        @model_validator(mode="after")
        def _check(self) -> Self:
            if self.attribute is not None and self.errors != "systematic":
                raise ValueError("attribute: only used with errors='systematic'")
            return self

    hparams: Params

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        if not items:
            raise ConfigError("nonexpert: fit needs at least one item (the A split is empty)")
        self.reference_ = np.sort(np.array([it.difficulty for it in items], dtype=np.float64))
        self.random_state_ = int(random_state)
        if self.hparams.attribute is not None:
            self.blind_values_ = self._blind_values(items)
        return self

    def _value(self, item: Item) -> str:
        attribute = required(self.hparams.attribute, "nonexpert: attribute")
        if attribute not in item.metadata:
            keys = ", ".join(sorted(item.metadata)) or "none"
            raise ConfigError(
                f"nonexpert: item {item.id} has no metadata {attribute!r} "
                f"(its keys: {keys}); choose attribute among them"
            )
        return str(item.metadata[attribute])

    def _blind_values(self, items: Sequence[Item]) -> tuple[frozenset[str], frozenset[str]]:
        """(blind values, all values of A): values in hash order until they hold a
        1 - K share of ``items``."""
        counts = Counter(self._value(it) for it in items)
        order = sorted(
            counts, key=lambda v: _uniform(self.hparams.seed_salt, self.random_state_, v)
        )
        blind: set[str] = set()
        covered, need = 0, (1.0 - self.hparams.knowledge) * len(items)
        for v in order:
            if covered >= need - 1e-9:
                break
            blind.add(v)
            covered += counts[v]
        return frozenset(blind), frozenset(counts)

    def _is_blind(self, value: str) -> bool:
        blind, seen = self.blind_values_
        if value in seen:
            return value in blind
        return (
            _uniform(self.hparams.seed_salt, self.random_state_, value)
            < 1.0 - self.hparams.knowledge
        )

    def blind(self, items: Sequence[Item]) -> np.ndarray:
        """Whether each item is in a blind spot (systematic model, step 1)."""
        if self.hparams.attribute is None:
            return ~self.knows(items)
        if not hasattr(self, "blind_values_"):
            raise RuntimeError("NonExpertSupervisor used before fit")
        return np.array([self._is_blind(self._value(it)) for it in items], dtype=bool)

    def _draws(self, items: Sequence[Item]) -> np.ndarray:
        if not hasattr(self, "reference_"):
            raise RuntimeError("NonExpertSupervisor used before fit")
        return np.array(
            [item_uniforms(self.hparams.seed_salt, self.random_state_, it.id) for it in items],
            dtype=np.float64,
        ).reshape(len(items), 3)

    def knows(self, items: Sequence[Item]) -> np.ndarray:
        """Whether it knows each item (step 1 of the model)."""
        u = self._draws(items)
        d = np.array([it.difficulty for it in items], dtype=np.float64)
        n = len(self.reference_)
        lo = np.searchsorted(self.reference_, d, side="left") / n
        hi = np.searchsorted(self.reference_, d, side="right") / n
        known: np.ndarray = lo + u[:, 0] * (hi - lo) < self.hparams.knowledge
        return known

    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        u = self._draws(items)
        gold = np.array([it.label for it in items], dtype=bool)
        known = self.knows(items) if self.hparams.errors == "random" else ~self.blind(items)
        if self.hparams.errors == "random":
            other = u[:, 2] < 0.5 + self.hparams.bias / 2
        else:
            other = {"true": np.ones_like(gold), "false": np.zeros_like(gold), "flip": ~gold}[
                self.hparams.heuristic
            ]
        answer = np.where(known, np.where(u[:, 1] < self.hparams.confidence, gold, ~gold), other)
        stated = np.where(known, self.hparams.confidence, self.hparams.guess_confidence)
        return np.where(answer, stated, 1.0 - stated).astype(np.float64)
