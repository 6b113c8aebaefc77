"""Tokenised items for training and prediction: tokenised once, padded per batch on the right."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sandwich.models.extract import pad_token_id


@dataclass(frozen=True)
class Encoded:
    """Token ids of each text (truncated to ``max_length``) and the pad id to batch them."""

    ids: list[list[int]]
    pad_id: int

    def __len__(self) -> int:
        return len(self.ids)

    def n_tokens(self, rows: Sequence[int] | None = None) -> int:
        rows = range(len(self.ids)) if rows is None else rows
        return sum(len(self.ids[i]) for i in rows)

    def batch(self, rows: Sequence[int]) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask`` of ``rows``."""
        width = max(len(self.ids[i]) for i in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, i in enumerate(rows):
            ids[j, : len(self.ids[i])] = torch.tensor(self.ids[i])
            mask[j, : len(self.ids[i])] = 1
        return {"input_ids": ids, "attention_mask": mask}


def encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> Encoded:
    """Tokenise ``texts`` once (special tokens included, truncated on the right)."""
    if not texts:
        raise ValueError("no texts to encode")
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    ids = [list(map(int, row)) for row in enc["input_ids"]]
    if any(len(row) == 0 for row in ids):
        empty = next(i for i, row in enumerate(ids) if not row)
        raise ValueError(f"text {empty} ({texts[empty][:40]!r}) has no tokens")
    return Encoded(ids, pad_token_id(tokenizer))


class RowDataset(torch.utils.data.Dataset[int]):
    """Indices ``order`` as a dataset (the epoch's order is chosen by the trainer)."""

    def __init__(self, order: Sequence[int]) -> None:
        self.order = list(order)

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> int:
        return self.order[i]
