"""``naive``: the judge answers alone, with no assistant and no passage (and the
unregistered assistant-alone reference: the assistant answering with the passage)."""

from __future__ import annotations

from collections.abc import Sequence

from sandwich.protocols.base import OversightProtocol, Speaker, Turn
from sandwich.tasks.choices import ChoiceView


class NaiveProtocol(OversightProtocol):
    """No parameters. The judge sees the question and the two answers only."""

    uses_assistant = False

    def turns(
        self, views: Sequence[ChoiceView], speaker: Speaker | None, item_ids: Sequence[str]
    ) -> list[list[Turn]]:
        return [[] for _ in views]


ASSISTANT_ALONE = "assistant-alone"


class AssistantAlone(NaiveProtocol):
    """The reference: the *assistant* model answering directly, reading the passage.

    Not registered (it is not an oversight protocol): a protocol run measures
    it next to the naive judge whenever an assistant is configured, judged by
    the assistant's generator in both answer orders like any protocol. It
    tells how far from the answer key ("expert = 1.0") the assistant itself is.
    """

    name = ASSISTANT_ALONE
    judge_sees_passage = True
