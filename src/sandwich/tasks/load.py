"""One entry point: :func:`load_task` (a registered name, a file, or a HF dataset)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sandwich.errors import ConfigError
from sandwich.tasks.files import load_task_file
from sandwich.tasks.hf import load_hf_task
from sandwich.tasks.registry import TASKS
from sandwich.tasks.task import Task

_HF_PARAMS = ("split", "text_field", "label_field", "group_field", "name", "allow_download")


def _subsample(task: Task, n_items: int | None, seed: int) -> Task:
    """At most ``n_items`` items, chosen by ``seed``, in their original order."""
    if n_items is None or n_items >= len(task.items):
        return task
    if n_items < 1:
        raise ConfigError(f"n_items must be positive, got {n_items}")
    keep = np.sort(np.random.default_rng([seed, 15485863]).permutation(len(task.items))[:n_items])
    source = {**task.source, "n_items": n_items, "seed": seed}
    return Task(task.name, [task.items[i] for i in keep], source, task.locations)


def _registered(name: str, n_items: int | None, seed: int, params: dict[str, Any]) -> Task:
    kwargs = dict(params, seed=seed)
    if n_items is not None:
        kwargs["n_items"] = n_items
    return TASKS.build(name, **kwargs)


def load_task(
    name: str | None = None,
    *,
    path: str | None = None,
    hf: str | None = None,
    n_items: int | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
) -> Task:
    """Load a task from exactly one of ``name``, ``path`` or ``hf``.

    - ``name``: a registered task (``sandwich.tasks.TASKS``), generated with
      ``n_items`` (None = the task's default), ``seed`` and ``params``.
    - ``path``: a ``.jsonl``/``.csv`` file (:func:`load_task_file`); ``params``
      may hold ``name``.
    - ``hf``: a dataset for :func:`load_hf_task`; ``params`` may hold
      ``split``, ``text_field``, ``label_field``, ``group_field``, ``name``,
      ``allow_download``.

    For files and datasets ``n_items`` means "at most that many, chosen by
    ``seed``" (None = all items).
    """
    given = [k for k, v in (("name", name), ("path", path), ("hf", hf)) if v]
    if len(given) != 1:
        raise ConfigError(f"give exactly one of name, path, hf (got {given or 'none'})")
    params = dict(params or {})
    if name:
        return _registered(name, n_items, seed, params)
    allowed = ("name",) if path else _HF_PARAMS
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        kind = "a task file" if path else "a HF dataset"
        raise ConfigError(f"unknown parameter(s) {unknown} for {kind}; allowed: {list(allowed)}")
    task = load_task_file(path, **params) if path else load_hf_task(str(hf), **params)
    return _subsample(task, n_items, seed)
