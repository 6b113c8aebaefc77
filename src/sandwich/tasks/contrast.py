"""Contrast pairs: each item framed as true (``pos``) and as false (``neg``), for the reporters.

One documented template, :data:`CONTRAST_TEMPLATE` (its name is part of the
contrast features' store key, so a new template never reuses old features).
It builds on the two-answer view every task has (:func:`sandwich.tasks.choices.choice_view`):

- a true/false statement (no ``choices`` in its metadata)::

      pos: "Is the following statement true or false? {statement} Answer: True"
      neg: "Is the following statement true or false? {statement} Answer: False"

- a question-format item (``question`` and two ``choices``; the statement asserts
  ``choices[0]``)::

      pos: "{question} Answer: {choices[0]}"
      neg: "{question} Answer: {choices[1]}"

  (``pos`` is then the item's own text, the one its plain features are of).

Either way ``pos`` asserts what the item asserts, so the item is true exactly
when ``pos`` is the right answer: P(item true) = P(pos true). Any ``passage``
(shown to a protocol's assistant only) is left out, as in the plain features.
"""

from __future__ import annotations

from collections.abc import Sequence

from sandwich.tasks.choices import choice_view
from sandwich.tasks.item import Item

CONTRAST_TEMPLATE = "answer-v1"
"""The template's name and version (part of the contrast features' store key)."""


def contrast_pair(item: Item) -> tuple[str, str]:
    """(pos, neg) texts of ``item``: the question answered with its choice, and the other."""
    view = choice_view(item)
    first, second = view.choices
    return f"{view.question} Answer: {first}", f"{view.question} Answer: {second}"


def contrast_texts(items: Sequence[Item]) -> tuple[list[str], list[str]]:
    """The pos texts and the neg texts of ``items``, in order."""
    pairs = [contrast_pair(it) for it in items]
    return [p for p, _ in pairs], [n for _, n in pairs]
