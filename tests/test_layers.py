"""The import graph of src/sandwich: no cycles, and packages import only downward.

Every import counts, at module level or inside a function (a function-level
import is still a dependency; it only hides a cycle), except imports under
``if TYPE_CHECKING:``, which never run. docs/architecture.md shows the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src"

# bottom -> top; a package may import packages of its own layer or below
LAYERS = [
    {"errors", "config", "registry", "store", "__init__"},
    {"tasks", "models", "metrics"},
    {"supervision", "elicit", "protocols", "feedback", "testing", "honesty", "rewards"},
    {"results"},
    {"report"},
    {"runs"},
    {"cli", "__main__", "docs_tables"},  # docs_tables: the parameter tables of cli and docs
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / "sandwich").rglob("*.py"))}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _targets(
    node: ast.Import | ast.ImportFrom, here: str, is_pkg: bool, mods: set[str]
) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in mods]
    base = node.module or ""
    if node.level:
        anchor = here.split(".")[: len(here.split(".")) - node.level + (1 if is_pkg else 0)]
        base = ".".join([*anchor, *([base] if base else [])])
    out = []
    for a in node.names:
        sub = f"{base}.{a.name}"
        out.append(sub if sub in mods else base)
    return [t for t in out if t in mods]


def import_graph() -> nx.DiGraph:
    """Module -> modules it imports at run time (sandwich modules only)."""
    mods = _modules()
    graph = nx.DiGraph()
    for name, path in mods.items():
        graph.add_node(name)
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno not in skip:
                for t in _targets(node, name, path.name == "__init__.py", set(mods)):
                    if t != name:
                        graph.add_edge(name, t)
    return graph


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, layer in enumerate(LAYERS) if top in layer)


def test_every_package_has_a_layer() -> None:
    tops = {m.split(".")[1] for m in import_graph() if "." in m}
    known = set().union(*LAYERS)
    assert tops <= known, f"packages without a layer in this test and docs: {tops - known}"


def test_no_import_cycles() -> None:
    cycles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_imports_only_go_down_the_layers() -> None:
    up = [f"{a} -> {b}" for a, b in import_graph().edges if _layer(b) > _layer(a)]
    assert not up, "upward imports:\n" + "\n".join(sorted(up))


def test_packages_form_a_dag() -> None:
    """Within a layer too: no two packages import each other, directly or round about."""
    packages = nx.DiGraph()
    for a, b in import_graph().edges:
        pa, pb = (m.split(".")[1] if "." in m else "__init__" for m in (a, b))
        if pa != pb:
            packages.add_edge(pa, pb)
    cycles = [sorted(c) for c in nx.strongly_connected_components(packages) if len(c) > 1]
    assert not cycles, f"packages importing each other: {cycles}"
