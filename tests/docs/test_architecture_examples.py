"""Every ```python block of docs/architecture.md runs, each in a fresh namespace.

The blocks add a task, a model, a supervisor, an elicitor, a protocol and an
experiment kind, and each ends by using what it added and asserting what it
did, so an example that no longer matches the code fails here. The names the
blocks register are removed from the registries after each block.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandwich.elicit import ELICITORS
from sandwich.models import MODELS
from sandwich.protocols import PROTOCOLS
from sandwich.registry import Registry
from sandwich.runs.kinds import KINDS, kind_of
from sandwich.supervision import SUPERVISORS
from sandwich.tasks import TASKS

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
REGISTRIES: list[Registry[object]] = [TASKS, MODELS, SUPERVISORS, ELICITORS, PROTOCOLS, KINDS]  # type: ignore[list-item]


def blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def _title(code: str) -> str:
    """The name of the first class or function a block defines (the test id)."""
    match = re.search(r"^(?:class|def) (\w+)", code, re.M)
    return match.group(1) if match else "block"


@pytest.fixture
def throwaway_entries() -> Iterator[None]:
    """Whatever a block registers is gone afterwards; the built-in entries stay as they were."""
    before = {id(r): dict(r._entries) for r in REGISTRIES}
    kind_of.cache_clear()
    yield
    for r in REGISTRIES:
        r._entries.clear()
        r._entries.update(before[id(r)])
    kind_of.cache_clear()


def test_the_doc_has_an_example_of_each_component() -> None:
    titles = [_title(b) for b in blocks()]
    assert titles == [
        "DoublesParams",
        "CharNgrams",
        "KNNSupervisor",
        "MassMeanProbe",
        "OpenConsultancy",
        "LadderCell",
    ]


@pytest.mark.parametrize("code", blocks(), ids=_title)
def test_example_runs(
    code: str, throwaway_entries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = {id(r): set(r.names()) for r in REGISTRIES}
    # a real (throwaway) module, so pydantic resolves the block's annotations in it
    module = types.ModuleType(f"architecture_example_{_title(code).lower()}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, f"{DOC}:{_title(code)}", "exec"), module.__dict__)
    added = [n for r in REGISTRIES for n in set(r.names()) - names[id(r)]]
    assert len(added) == 1, f"each example registers one component, this one: {added}"


def test_the_examples_leave_no_entry_behind() -> None:
    """Runs after the examples (file order): the registries hold only the built-ins."""
    for r in REGISTRIES:
        assert not {"doubles", "char-ngrams", "knn", "mass-mean", "open-consultancy",
                    "ladder"} & set(r.names()), r.kind  # fmt: skip
