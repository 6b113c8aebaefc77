"""The protocol registry (naive, consultancy, debate, critique), listed lazily by module."""

from __future__ import annotations

from sandwich.protocols.base import OversightProtocol
from sandwich.registry import Registry

PROTOCOLS: Registry[OversightProtocol] = Registry("protocol")

_P = "sandwich.protocols"
PROTOCOLS.lazy("consultancy", f"{_P}.consultancy:ConsultancyProtocol",
               "one consultant argues an assigned answer")  # fmt: skip
PROTOCOLS.lazy("critique", f"{_P}.critique:CritiqueProtocol",
               "a model answer plus a critic's critique")  # fmt: skip
PROTOCOLS.lazy("debate", f"{_P}.debate:DebateProtocol",
               "two debaters argue opposite answers for N rounds")  # fmt: skip
PROTOCOLS.lazy("naive", f"{_P}.naive:NaiveProtocol",
               "the judge alone (the baseline of sandwich gap closed)")  # fmt: skip
