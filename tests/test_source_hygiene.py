"""Rules on the source of ``src/sandwich`` that reviews kept finding broken.

- No ``assert`` statements: ``python -O`` removes them, so a check written as
  an assert silently stops checking. Raise a named error instead, or narrow a
  type with :func:`sandwich.errors.required`.
- No function longer than ``MAX_FUNCTION_LINES`` lines (nested functions
  counted on their own and inside their parent): a reader should see a whole
  function at once.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import sandwich
from sandwich.errors import required

SRC = Path(sandwich.__file__).parent
MAX_FUNCTION_LINES = 80


def _trees() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield str(path.relative_to(SRC.parent)), ast.parse(path.read_text(), str(path))


def _asserts(tree: ast.Module) -> list[int]:
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]


def _long_functions(tree: ast.Module, limit: int) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function over ``limit`` lines."""
    return [
        (n.name, n.lineno, required(n.end_lineno, "end_lineno") - n.lineno + 1)
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        and required(n.end_lineno, "end_lineno") - n.lineno + 1 > limit
    ]


def test_the_checks_find_what_they_look_for() -> None:
    body = "\n".join(f"    x = {i}" for i in range(81))
    tree = ast.parse(f"def f():\n    assert x\n{body}\n\ndef g():\n    return 1\n")
    assert _asserts(tree) == [2]
    assert _long_functions(tree, MAX_FUNCTION_LINES) == [("f", 1, 83)]


def test_src_has_no_assert_statements() -> None:
    found = [f"{path}:{line}" for path, tree in _trees() for line in _asserts(tree)]
    assert not found, "assert vanishes under python -O; raise a named error:\n" + "\n".join(found)


def test_no_function_in_src_is_longer_than_the_limit() -> None:
    found = [
        f"{path}:{line} {name} ({length} lines)"
        for path, tree in _trees()
        for name, line, length in _long_functions(tree, MAX_FUNCTION_LINES)
    ]
    assert not found, f"split (limit {MAX_FUNCTION_LINES} lines):\n" + "\n".join(found)


def test_required_narrows_and_names_what_was_missing() -> None:
    assert required(0, "zero") == 0
    with pytest.raises(RuntimeError, match="the study is missing"):
        required(None, "the study")
    with pytest.raises(ValueError, match="debate: the assistant's speaker is missing"):
        required(None, "debate: the assistant's speaker", ValueError)
