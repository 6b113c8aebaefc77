"""The pieces that let the fine-tuning loop train a reward model, wrapped from outside.

The loop (``sandwich.elicit.finetune.train``) trains a module that maps a batch
of items to two-class logits, with a loss on ``(logits, P(true))``. A reward
model is fitted on *pairs*, so here an item is a pair:

- :class:`PairEncoded` is an ``Encoded`` whose item ``i`` is pair ``i``; its
  ``batch(rows)`` returns both texts of every pair in one forward batch (the
  ``a`` texts first, then the ``b`` texts, right-padded to one width);
- :class:`RewardHead` is a ``HeadClassifier`` whose head is one zero-initialised
  scalar (no bias: Bradley-Terry only sees differences, a bias gets no gradient).
  Its ``forward`` on a pair batch returns the logits ``(r_b, r_a)``, so
  ``softmax(logits)[:, 1] = sigmoid(r_a - r_b) = P(a preferred)`` and the loop's
  ``xent`` loss against ``[1 - p, p]`` is exactly the soft Bradley-Terry loss
  ``-[p log s(r_a - r_b) + (1 - p) log s(r_b - r_a)]``;
- :func:`pair_minibatch` resolves ``minibatch_size: auto`` per pair (two rows of
  the widest text), which the loop's own rule would count as one text.

Nothing in ``elicit/finetune`` is changed: these subclass or call its public API.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from sandwich.elicit.finetune.classifier import HeadClassifier, Pooling
from sandwich.elicit.finetune.data import Encoded, encode
from sandwich.elicit.finetune.minibatch import CAP, SHARE, auto_minibatch, available_memory
from sandwich.elicit.finetune.train import MixedPrecision, TrainSettings, score_batches


class RewardHead(HeadClassifier):
    """``backbone`` -> pooled hidden state -> ``Linear(hidden, 1)``, zero-initialised, no bias.

    The zero head makes every text's reward 0 at the start, so every pair
    starts at P(a preferred) = 1/2 (as the classifier starts at P(true) = 1/2).
    """

    def __init__(self, backbone: nn.Module, hidden_size: int, pooling: Pooling) -> None:
        super().__init__(backbone, hidden_size, pooling)
        self.head = nn.Linear(hidden_size, 1, bias=False)
        nn.init.zeros_(self.head.weight)

    def score(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One reward per row, shape (rows,)."""
        return super().forward(input_ids, attention_mask)[:, 0]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pair logits ``(r_b, r_a)`` of a :class:`PairEncoded` batch (rows: a texts, b texts)."""
        r = self.score(input_ids, attention_mask)
        if len(r) % 2:
            raise ValueError(f"a pair batch has an even number of rows (a then b), got {len(r)}")
        r_a, r_b = r.chunk(2)
        return torch.stack([r_b, r_a], dim=-1)


@dataclass(frozen=True)
class PairEncoded(Encoded):
    """Token ids of pairs: ``ids[i]`` is pair ``i``'s a-text ids followed by its b-text ids
    (what the loop sorts lengths by and counts), ``cut[i]`` the length of the a part."""

    cut: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.cut) != len(self.ids):
            raise ValueError(f"{len(self.cut)} cuts for {len(self.ids)} pairs")

    def texts(self, rows: Sequence[int]) -> tuple[list[list[int]], list[list[int]]]:
        """The a-texts' and the b-texts' ids of ``rows``."""
        a = [self.ids[i][: self.cut[i]] for i in rows]
        b = [self.ids[i][self.cut[i] :] for i in rows]
        return a, b

    def longest_text(self) -> int:
        a, b = self.texts(range(len(self)))
        return max(len(t) for t in a + b)

    def batch(self, rows: Sequence[int]) -> dict[str, torch.Tensor]:
        """``2 * len(rows)`` right-padded rows: the a texts of ``rows``, then their b texts."""
        a, b = self.texts(rows)
        both = Encoded(a + b, self.pad_id)
        return both.batch(range(len(both)))

    def subset(self, rows: Sequence[int]) -> PairEncoded:
        return PairEncoded(
            [self.ids[i] for i in rows], self.pad_id, tuple(self.cut[i] for i in rows)
        )


def encode_pairs(
    tokenizer: Any, texts_a: Sequence[str], texts_b: Sequence[str], max_length: int
) -> PairEncoded:
    """Tokenise both sides once (each text truncated to ``max_length`` on the right)."""
    a = _encode_named(tokenizer, texts_a, max_length, "texts_a")
    b = _encode_named(tokenizer, texts_b, max_length, "texts_b")
    ids = [x + y for x, y in zip(a.ids, b.ids, strict=True)]
    return PairEncoded(ids, a.pad_id, tuple(len(x) for x in a.ids))


def _encode_named(tokenizer: Any, texts: Sequence[str], max_length: int, what: str) -> Encoded:
    try:
        return encode(tokenizer, texts, max_length)
    except ValueError as exc:  # "text 3 ('...') has no tokens": say which list
        raise ValueError(f"{what}: {exc}") from exc


def pair_minibatch(settings: TrainSettings, model: nn.Module, data: PairEncoded) -> TrainSettings:
    """``settings`` with ``minibatch_size: auto`` resolved to pairs per forward pass.

    The loop's rule (``minibatch.auto_minibatch``) fits items x the longest item
    into a quarter of the free memory. A pair is two rows padded to the batch's
    widest text, so it is given half that budget per row of the longest text.
    A number is kept.
    """
    if settings.minibatch_size != "auto":
        return settings
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_process = max(1, settings.batch_size // world)
    budget = min(int(SHARE * available_memory()), CAP) // 2
    config = getattr(getattr(model, "backbone", model), "config", None)
    size = auto_minibatch(per_process, data.longest_text(), config, budget=budget)
    return dataclasses.replace(settings, minibatch_size=size)


def rewards(
    model: RewardHead,
    data: Encoded,
    batch_size: int = 32,
    mixed_precision: MixedPrecision = "no",
) -> np.ndarray:
    """The reward of every text of ``data`` (the loop's own batched scoring)."""
    return score_batches(model, data, model.score, batch_size, mixed_precision)
