"""Every ```python block of docs/architecture.md runs, each in a fresh namespace.

The blocks add a task, a model, a supervisor, an elicitor, a protocol and an
experiment kind, and each ends by using what it added and asserting what it
did, so an example that no longer matches the code fails here. The names the
blocks register are removed from the registries after each block.
"""

from __future__ import annotations

import contextlib
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandwich.elicit import ELICITORS
from sandwich.models import MODELS
from sandwich.protocols import PROTOCOLS
from sandwich.registry import Registry
from sandwich.runs.kinds import KINDS
from sandwich.supervision import SUPERVISORS
from sandwich.tasks import TASKS

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
REGISTRIES: list[Registry[Any]] = [TASKS, MODELS, SUPERVISORS, ELICITORS, PROTOCOLS]
NAMED: list[Any] = [*REGISTRIES, KINDS]  # and the experiment kinds (sandwich.results.kinds)


def blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def _title(code: str) -> str:
    """The name of the first class or function a block defines (the test id)."""
    match = re.search(r"^(?:class|def) (\w+)", code, re.M)
    return match.group(1) if match else "block"


@contextlib.contextmanager
def throwaway_entries() -> Iterator[None]:
    """Whatever is registered inside is gone afterwards; the built-in entries stay as they were."""
    before = [dict(r._entries) for r in REGISTRIES]
    kinds = KINDS.names()
    try:
        yield
    finally:
        for r, entries in zip(REGISTRIES, before, strict=True):
            r._entries.clear()
            r._entries.update(entries)
        for name in KINDS.names():
            if name not in kinds:
                KINDS.remove(name)


def test_the_doc_has_an_example_of_each_component() -> None:
    titles = [_title(b) for b in blocks()]
    assert titles == [
        "DoublesParams",
        "CharNgrams",
        "KNNSupervisor",
        "MeanDiffProbe",
        "OpenConsultancy",
        "LadderCell",
    ]


@pytest.mark.parametrize("code", blocks(), ids=_title)
def test_example_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [r.names() for r in NAMED]
    # a real (throwaway) module, so pydantic resolves the block's annotations in it
    module = types.ModuleType(f"architecture_example_{_title(code).lower()}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with throwaway_entries():
        exec(compile(code, f"{DOC}:{_title(code)}", "exec"), module.__dict__)
        added = [n for r, had in zip(NAMED, names, strict=True) for n in r.names() if n not in had]
        assert len(added) == 1, f"each example registers one component, this one: {added}"
    assert [r.names() for r in NAMED] == names  # and leaves none behind
