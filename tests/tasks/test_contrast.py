"""Contrast pairs: the documented template per task kind."""

from __future__ import annotations

import pytest

from sandwich.errors import ConfigError
from sandwich.tasks import Item
from sandwich.tasks.choices import choice_row
from sandwich.tasks.contrast import contrast_pair, contrast_texts


def test_a_statement_is_called_true_and_false() -> None:
    item = Item.make("The city of Lyon is in France.", True)
    assert contrast_pair(item) == (
        "The city of Lyon is in France. True",
        "The city of Lyon is in France. False",
    )


def test_a_question_item_is_answered_with_its_two_choices_pos_being_its_own_text() -> None:
    row = choice_row({"question": "Which is larger?", "choices": ["Lyon", "Nice"], "answer": 1})
    item = Item.make(row["text"], row["label"], question=row["question"], choices=row["choices"],
                     passage="only the assistant sees this")  # fmt: skip
    pos, neg = contrast_pair(item)
    assert (pos, neg) == ("Which is larger? Answer: Lyon", "Which is larger? Answer: Nice")
    assert pos == item.text and not item.label  # pos asserts what the item asserts


def test_texts_keep_the_items_order_and_bad_choices_are_named() -> None:
    items = [Item.make(f"{a} + 1 = {a + 1}.", True) for a in range(3)]
    pos, neg = contrast_texts(items)
    assert pos == [f"{a} + 1 = {a + 1}. True" for a in range(3)]
    assert neg == [f"{a} + 1 = {a + 1}. False" for a in range(3)]
    bad = Item.make("x", True, question="q?", choices=["same", "same"])
    with pytest.raises(ConfigError, match="two different"):
        contrast_pair(bad)
