"""The study app's layout: one sub-package per job, imports only downward
(study config -> store -> analysis -> web), the human supervisor importable on
its own without the web framework or the database, and every template and
static file shipped as package data."""

from __future__ import annotations

import ast
import fnmatch
import subprocess
import sys
import tomllib
from pathlib import Path

import sandwich

SRC = Path(sandwich.__file__).parent
FEEDBACK = SRC / "feedback"
# a module of a layer may import from its own layer and the ones before it, never after
LAYERS = ("store", "analysis", "web")


def _imports(path: Path) -> set[str]:
    """Every ``sandwich...`` module the file imports, at any depth (function-level too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("sandwich.")}


def test_feedback_sub_packages_import_only_downward() -> None:
    wrong = []
    for k, layer in enumerate(LAYERS):
        later = [f"sandwich.feedback.{x}" for x in LAYERS[k + 1 :]]
        for path in sorted((FEEDBACK / layer).rglob("*.py")):
            wrong += [
                f"{path.relative_to(SRC)} imports {m}"
                for m in _imports(path)
                if any(m == p or m.startswith(p + ".") for p in later)
            ]
    assert not wrong, wrong


def test_library_code_does_not_import_the_test_helpers() -> None:
    users = [
        str(p.relative_to(SRC))
        for p in sorted(SRC.rglob("*.py"))
        if "testing" not in p.relative_to(SRC).parts
        and any(m.startswith("sandwich.testing") for m in _imports(p))
    ]
    assert not users, users


def test_the_human_supervisor_imports_first_and_light() -> None:
    """Importing the adapter before ``sandwich.supervision`` works (no import cycle),
    registers ``human``, and loads neither the web framework nor the database."""
    code = (
        "import sys\n"
        "from sandwich.feedback.supervisor import HumanSupervisor\n"
        "from sandwich.supervision import SUPERVISORS\n"
        "assert SUPERVISORS.entry('human').factory is HumanSupervisor\n"
        "heavy = [m for m in ('fastapi', 'starlette', 'sqlalchemy', 'crowdkit')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_templates_and_static_files_are_package_data() -> None:
    pyproject = SRC.parents[1] / "pyproject.toml"
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["sandwich"]
    shipped = [
        p.relative_to(SRC).as_posix()
        for folder in ("templates", "static")
        for p in sorted((FEEDBACK / "web" / folder).iterdir())
    ]
    assert shipped
    missing = [f for f in shipped if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, missing
