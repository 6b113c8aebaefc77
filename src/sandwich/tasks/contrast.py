"""Contrast pairs: each item framed as true (``pos``) and as false (``neg``), for the reporters.

One documented template, :data:`CONTRAST_TEMPLATE` (its name is part of the
contrast features' store key, so a new template never reuses old features).
It appends an answer to what the task already shows the model, so that a half
is at most a word or two longer than the item's own text, and the two halves share
everything before that word (on a decoder the shared start runs once,
``Model.pair_features``: contrast features cost about 1.2x the plain ones,
``benchmarks/contrast_features.py``):

- a true/false statement (no ``choices`` in its metadata)::

      pos: "{statement} True"
      neg: "{statement} False"

- a question-format item (``question`` and two ``choices``; the statement asserts
  ``choices[0]``; the task's own answer format, :func:`sandwich.tasks.choices.choice_row`)::

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

CONTRAST_TEMPLATE = "answer-v2"
"""The template's name and version (part of the contrast features' store key)."""


def contrast_pair(item: Item) -> tuple[str, str]:
    """(pos, neg) texts of ``item``: the statement called true and false, or the question
    answered with the choice the item asserts and with the other (module docstring)."""
    if "choices" not in item.metadata:
        return f"{item.text} True", f"{item.text} False"
    view = choice_view(item)  # validates the question and the two choices
    first, second = view.choices
    return f"{view.question} Answer: {first}", f"{view.question} Answer: {second}"


def contrast_texts(items: Sequence[Item]) -> tuple[list[str], list[str]]:
    """The pos texts and the neg texts of ``items``, in order."""
    pairs = [contrast_pair(it) for it in items]
    return [p for p, _ in pairs], [n for _, n in pairs]
