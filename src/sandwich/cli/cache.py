"""``sandwich cache``: inspect, explain and clear the generation response cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sandwich.cli.console import console
from sandwich.errors import ConfigError

if TYPE_CHECKING:
    from sandwich.models.generation.cache import ResponseCache

cache_app = typer.Typer(
    help="The generation response cache ($SANDWICH_HOME/generation.sqlite).",
    no_args_is_help=True,
)

PathOption = Annotated[
    Path | None,
    typer.Option("--path", help="cache file (default: $SANDWICH_HOME/generation.sqlite)"),
]


def _open(path: Path | None) -> ResponseCache:
    from sandwich.models.generation.cache import ResponseCache

    return ResponseCache(path)


@cache_app.command("stats")
def stats_cmd(path: PathOption = None) -> None:
    """Entries per backend, model and kind; file size; corrupt files moved aside."""

    st = _open(path).stats()
    table = Table(title=f"response cache {st.path} ({st.size_bytes / 1e6:.2f} MB)")
    for col in ("backend", "model", "kind", "entries"):
        table.add_column(col, justify="right" if col == "entries" else "left")
    for backend, model, kind, n in st.by_model:
        table.add_row(backend, model, kind, str(n))
    table.add_row("", "", "total", str(st.entries), style="bold")
    console.print(table)
    for p in st.corrupt_files:
        console.print(f"corrupt cache moved aside: {p}")


@cache_app.command("clear")
def clear_cmd(
    path: PathOption = None,
    model: Annotated[str | None, typer.Option(help="only this model's entries")] = None,
) -> None:
    """Delete every cached response (or one model's)."""

    cache = _open(path)
    n = cache.clear(model=model)
    console.print(f"deleted {n} entr{'y' if n == 1 else 'ies'} from {cache.path}")


@cache_app.command("explain")
def explain_cmd(
    request_file: Annotated[
        Path,
        typer.Argument(help='a JSON file {"backend": {...describe()...}, "request": {...}}'),
    ],
    path: PathOption = None,
) -> None:
    """Why a request hits or misses: the nearest stored entry and the fields that differ."""
    from sandwich.models.generation.keys import KEY_VERSION, key_of_fields

    try:
        data = json.loads(request_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{request_file}: cannot read a JSON object ({exc})") from None
    if not isinstance(data, dict) or not {"backend", "request"} <= set(data):
        raise ConfigError(
            f'{request_file}: expected a JSON object with "backend" and "request" '
            "(the fields a cache key is made of; see docs/generation.md)"
        )
    kind = data["request"].get("kind") if isinstance(data["request"], dict) else None
    if kind not in {"generate", "choices"}:
        raise ConfigError(f'{request_file}: request.kind must be "generate" or "choices"')
    fields = {"version": KEY_VERSION, "backend": data["backend"], "request": data["request"]}
    cache = _open(path)
    console.print(str(cache.explain(key_of_fields(fields), fields)), highlight=False)
