"""The planner: a config's cells of every active kind, the unit of work and caching.

A cell is plain, frozen pydantic data (a :class:`~sandwich.results.kinds.KindCell`)
with a ``kind`` discriminator, so any executor (local, or Ray:
:mod:`sandwich.runs.ray_executor`) can ship it to a worker as JSON; :data:`Cell`
validates it back as the cell model its kind registered
(:data:`sandwich.results.kinds.KINDS`), and that kind runs it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, SerializationInfo

from sandwich.results.kinds import KINDS, KindCell
from sandwich.runs.config import RunConfig
from sandwich.runs.kinds import kind_of
from sandwich.runs.protocol_schema import ProtocolCell as ProtocolCell
from sandwich.runs.w2s_schema import W2SCell as W2SCell


def _validate_cell(value: Any) -> KindCell:
    """``value`` (a cell, or its JSON data) as the cell model of its ``kind``."""
    kind = value.kind if isinstance(value, KindCell) else None
    if isinstance(value, dict):
        kind = value.get("kind")
    if not isinstance(kind, str):
        raise ValueError(f"a cell without a kind (known kinds: {', '.join(KINDS.names())})")
    if kind not in KINDS:
        raise ValueError(KINDS.unknown_message(kind))
    model = KINDS.schema(kind).cell
    if isinstance(value, model):
        return value
    if isinstance(value, KindCell):
        value = value.model_dump()
    return model.model_validate(value)


def _dump_cell(value: KindCell, info: SerializationInfo) -> Any:
    return value.model_dump(mode=info.mode)


# A cell of any registered kind, validated (and serialised) by its ``kind``.
Cell = Annotated[KindCell, PlainValidator(_validate_cell), PlainSerializer(_dump_cell)]


def plan_cells(config: RunConfig) -> list[KindCell]:
    """Every cell of every kind the config runs, kind by kind in the kinds' own order."""
    return [cell for name in config.kinds for cell in kind_of(name).plan(config)]
