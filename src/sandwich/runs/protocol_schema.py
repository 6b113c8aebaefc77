"""The protocol kind's schema (light: pydantic only): its cell and its result records.

Its config is the flat fields ``protocols``, ``judge``, ``assistant``, ``judging``,
``generation``, ... of :class:`sandwich.runs.config.RunConfig`; its results are
:class:`sandwich.protocols.results.ProtocolRow` (cells) and
:class:`~sandwich.protocols.results.SeedAggregate` (groups). The implementation
is :class:`sandwich.runs.protocol.ProtocolKind`.
"""

from __future__ import annotations

from typing import Literal

from sandwich.protocols.results import ProtocolRow, SeedAggregate
from sandwich.results.kinds import KindCell, KindSchema
from sandwich.runs.config import ProtocolConfig, TaskConfig


class ProtocolCell(KindCell):
    """One protocol on one task's items with one seed (judge and assistant: the config's)."""

    kind: Literal["protocol"] = "protocol"
    task: TaskConfig
    protocol: ProtocolConfig
    seed: int

    @property
    def label(self) -> str:
        return f"{self.task.label} | {self.protocol.display} | seed {self.seed}"


PROTOCOL_SCHEMA = KindSchema(cell=ProtocolCell, cell_result=ProtocolRow, group_result=SeedAggregate)
