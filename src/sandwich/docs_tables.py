"""Parameter tables generated from the components' Params models (CLI and docs).

``sandwich elicitors --params finetune`` prints :func:`param_rows` as a
table; the docs hold the same rows as markdown between marker comments::

    <!-- params: elicitor finetune -->
    ...generated...
    <!-- /params -->

``python -m sandwich.docs_tables`` rewrites every such block in docs/
(``--check``: exit 1 naming the stale files instead); a test keeps them current.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from sandwich.registry import Registry

# registry kind -> (module, attribute); listing order of the CLI and the docs
REGISTRIES: dict[str, tuple[str, str]] = {
    "task": ("sandwich.tasks.registry", "TASKS"),
    "model": ("sandwich.models.registry", "MODELS"),
    "supervisor": ("sandwich.supervision.registry", "SUPERVISORS"),
    "elicitor": ("sandwich.elicit.registry", "ELICITORS"),
    "loss": ("sandwich.elicit.finetune.registry", "LOSSES"),
    "protocol": ("sandwich.protocols.registry", "PROTOCOLS"),
    "backend": ("sandwich.models.generation.registry", "GENERATORS"),
}

_BLOCK = re.compile(r"(<!-- params: (\w+) ([\w-]+) -->\n)(.*?)(<!-- /params -->)", re.S)


def registry(kind: str) -> Registry[Any]:
    """The registry of ``kind`` (``task``, ``elicitor``, ...), imported on use."""
    module, attr = REGISTRIES[kind]
    reg: Registry[Any] = getattr(importlib.import_module(module), attr)
    return reg


def type_name(annotation: Any) -> str:
    """A short readable type: ``int``, ``'lora' | 'full'``, ``list[str] | None``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default_factory is not None:
        return repr(field.default_factory())
    return "required" if field.default is PydanticUndefined else repr(field.default)


def param_rows(kind: str, name: str) -> list[tuple[str, str, str, str]]:
    """One row per field of ``kind`` ``name``'s Params: name, type, default, description
    (the CLI's ``--params`` table and the docs' blocks)."""
    model = registry(kind).entry(name).params_model
    fields = model.model_fields.items() if model is not None else []
    return [(n, type_name(f.annotation), _default(f), f.description or "") for n, f in fields]


def params_markdown(kind: str, name: str) -> str:
    """The markdown table of ``kind`` ``name``'s parameters."""
    rows = param_rows(kind, name)
    if not rows:
        return "No parameters.\n"
    lines = ["| param | type | default | meaning |", "| --- | --- | --- | --- |"]
    for *code, meaning in rows:
        cells = [f"`{c}`" for c in code] + [meaning]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render(text: str) -> str:
    """``text`` with every params block regenerated."""
    return _BLOCK.sub(lambda m: m[1] + params_markdown(m[2], m[3]) + m[5], text)


def stale(docs: Path) -> list[Path]:
    """The markdown files under ``docs`` whose params blocks are not current."""
    return [p for p in sorted(docs.glob("*.md")) if render(p.read_text()) != p.read_text()]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    docs = Path(next((a for a in args if not a.startswith("-")), "docs"))
    old = stale(docs)
    if "--check" in args:
        for p in old:
            print(f"{p}: parameter tables are stale; run python -m sandwich.docs_tables")
        return 1 if old else 0
    for p in old:
        p.write_text(render(p.read_text()))
        print(f"updated {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
