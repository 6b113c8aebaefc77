"""``naive``: the judge answers alone, with no assistant and no passage."""

from __future__ import annotations

from collections.abc import Sequence

from sandwich.protocols.base import Protocol, Speaker, Turn
from sandwich.protocols.registry import PROTOCOLS
from sandwich.tasks.choices import ChoiceView


@PROTOCOLS.register("naive", summary="the judge alone (the baseline of sandwich gap closed)")
class NaiveProtocol(Protocol):
    """No parameters. The judge sees the question and the two answers only."""

    needs_expert = False

    def turns(
        self, views: Sequence[ChoiceView], speaker: Speaker | None, item_ids: Sequence[str]
    ) -> list[list[Turn]]:
        return [[] for _ in views]
