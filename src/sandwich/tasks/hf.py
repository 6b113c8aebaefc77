"""Tasks from Hugging Face ``datasets``: local json/csv files, saved datasets, hub names.

Offline by default: a hub name is looked up with ``HF_DATASETS_OFFLINE=1``
unless the caller passes ``allow_download=True``; a failure then raises
:class:`~sandwich.errors.OfflineError` explaining the opt-in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandwich.errors import ConfigError, InputFileError, OfflineError
from sandwich.store.hashing import digest, file_digest
from sandwich.tasks.files import parse_row
from sandwich.tasks.item import Item
from sandwich.tasks.task import Task

_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


@contextmanager
def _offline(enabled: bool) -> Iterator[None]:
    """Force offline mode; ``datasets`` and ``huggingface_hub`` read it at import time,
    so their module constants are patched as well as the environment."""
    if not enabled:
        yield
        return
    import datasets.config
    import huggingface_hub.constants as hub

    targets = [
        (datasets.config, "HF_HUB_OFFLINE"),
        (datasets.config, "HF_DATASETS_OFFLINE"),
        (hub, "HF_HUB_OFFLINE"),
    ]
    saved = [getattr(mod, attr, None) for mod, attr in targets]
    old_env = os.environ.get("HF_DATASETS_OFFLINE")
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    for mod, attr in targets:
        setattr(mod, attr, True)
    try:
        yield
    finally:
        for (mod, attr), value in zip(targets, saved, strict=True):
            setattr(mod, attr, value)
        if old_env is None:
            os.environ.pop("HF_DATASETS_OFFLINE", None)
        else:
            os.environ["HF_DATASETS_OFFLINE"] = old_env


def _load(
    path_or_name: str, split: str, allow_download: bool, **kw: Any
) -> tuple[Any, dict[str, Any]]:
    import datasets

    p = Path(path_or_name)
    if p.is_file():
        builder = _BUILDERS.get(p.suffix.lower())
        if builder is None:
            raise ConfigError(
                f"{p}: unsupported file type for the HF loader; use {sorted(_BUILDERS)}"
            )
        src = {"kind": "hf", "path": str(p.resolve()), "sha256": file_digest(p)}
        return datasets.load_dataset(builder, data_files=str(p), split=split, **kw), src
    if p.is_dir() and any((p / f).exists() for f in ("dataset_info.json", "dataset_dict.json")):
        ds = datasets.load_from_disk(str(p))
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[split]
        return ds, {"kind": "hf", "path": str(p.resolve()), "fingerprint": ds._fingerprint}
    with _offline(not allow_download):
        try:
            ds = datasets.load_dataset(path_or_name, split=split, **kw)
        except Exception as e:
            if p.exists() or allow_download:
                raise ConfigError(f"could not load dataset {path_or_name!r}: {e}") from e
            raise OfflineError(
                f"could not load dataset {path_or_name!r} (split {split!r}) without the network: "
                f"{type(e).__name__}: {e}. sandwich runs offline; to download from the Hugging "
                "Face hub, pass allow_download=True (config: params: {allow_download: true}), "
                "or give a local .jsonl/.csv file or a dataset directory."
            ) from e
    return ds, {"kind": "hf", "name": path_or_name, "fingerprint": ds._fingerprint}


def load_hf_task(
    path_or_name: str,
    split: str = "train",
    text_field: str = "text",
    label_field: str = "label",
    group_field: str = "group",
    name: str | None = None,
    allow_download: bool = False,
    **load_kwargs: Any,
) -> Task:
    """A Task from a dataset loadable by ``datasets`` (rows validated like file rows).

    ``group_field`` names the optional group column (see
    :mod:`sandwich.tasks.files`); a name other than the default must exist.
    """
    ds, source = _load(path_or_name, split, allow_download, **load_kwargs)
    source.update(
        split=split,
        text_field=text_field,
        label_field=label_field,
        group_field=group_field,
        load_kwargs=digest(load_kwargs) if load_kwargs else None,
    )
    required = (text_field, label_field) + ((group_field,) if group_field != "group" else ())
    for f in required:
        if f not in ds.column_names:
            raise InputFileError(
                path_or_name, None, f"no column {f!r} (columns: {ds.column_names})"
            )
    items: list[Item] = []
    first: dict[str, int] = {}
    for i, row in enumerate(ds, start=1):
        row = dict(row)
        row["text"], row["label"] = row.pop(text_field), row.pop(label_field)
        if group_field != "group":
            row["group"] = row.pop(group_field)
        item = parse_row(Path(path_or_name), i, row, csv_text=isinstance(row["label"], str))
        if item.id in first:
            raise InputFileError(
                path_or_name, i, f"duplicate id {item.id!r} (also row {first[item.id]})"
            )
        first[item.id] = i
        items.append(item)
    if not items:
        raise InputFileError(path_or_name, None, f"split {split!r} has no rows")
    locations = {iid: f"{path_or_name}:row {i}" for iid, i in first.items()}
    return Task(name or Path(path_or_name).stem or path_or_name, items, source, locations)
