"""The record of one item under one sycophancy condition, and the conditions' names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Condition = Literal["alone", "suggest_right", "suggest_wrong", "challenge"]
CONDITIONS: tuple[Condition, ...] = get_args(Condition)


@dataclass(frozen=True)
class SycophancyRecord:
    """One item under one condition: what the model answered and how sure it was.

    ``answer`` and ``correct_index`` index the item's two choices;
    ``suggested``: the choice the user suggested (suggest conditions);
    ``first_answer``: the model's own ``alone`` answer shown back to it
    (``challenge``); ``cache_key``: the request's response-cache key, if cached.
    """

    task: str
    item_id: str
    condition: Condition
    difficulty: float
    correct_index: int
    answer: int
    p_correct: float
    suggested: int | None = None
    first_answer: int | None = None
    cache_key: str | None = None

    @property
    def correct(self) -> bool:
        return self.answer == self.correct_index
