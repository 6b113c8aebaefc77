"""What a tracker logs, tracker-neutral: a run's result records as named params and metrics.

Every record of results.json (each cell, each group of seeds) becomes one
:class:`Entry`. The rule that splits a record is the same for every kind, so a
new kind is logged without code here:

- numbers (accuracies, PGR, ECE, counts, wall time; nested ones by their
  dotted key, ``methods.logprobs``) are **metrics**; an
  interval ``x_ci = (low, high)`` is the two metrics ``x_ci_low`` and
  ``x_ci_high``; an undefined number (null) is left out;
- names, the seed(s), flags, and everything under ``specs`` and ``params``
  (the resolved construction arguments of what produced the cell) are
  **params**, flattened to dotted keys (``specs.resolved.weak.params.model``);
- reliability-diagram bins (``reliability``, ``*_reliability``) are neither:
  they are plot data, logged as the report's calibration figures.

An entry's ``key`` names it by its kind, its names and its seed(s), never by
its numbers, so a resumed run finds the tracker's run of the same cell.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from sandwich.results import RunResults
from sandwich.runs.config import RUNTIME_FIELDS
from sandwich.store.hashing import digest

# the fields that name a record, in the order its label shows them
NAME_FIELDS = ("task", "weak", "strong", "elicitor", "protocol", "model", "name")
# fields whose content is configuration, logged as params whatever its type
PARAM_TREES = frozenset({"specs", "params", "seed", "seeds", "flags"})


def is_plot_data(field: str) -> bool:
    """A reliability diagram's bins: shown by the report's figures, not logged as numbers."""
    return field == "reliability" or field.endswith("_reliability")


# tag names shared by the trackers
TAG_RUN_ID = "sandwich.run_id"
TAG_RECORD = "sandwich.record"  # run | cell | group
TAG_KIND = "sandwich.kind"
TAG_KEY = "sandwich.key"
TAG_VERSION = "sandwich.version"
TAG_CONFIG_HASH = "sandwich.config_hash"


class Entry(NamedTuple):
    """One record of results.json as a tracker run."""

    record: str  # "cell" or "group"
    kind: str  # the experiment kind (w2s, protocol, ...)
    key: str  # stable identity within the sandwich run (kind, names, seeds)
    name: str  # a readable label: "arithmetic | fake-weak | fake-strong | probe | seed 0"
    params: dict[str, str]
    metrics: dict[str, float]


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings (and lists of mappings) as one level of dotted keys."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(data, list) and any(isinstance(x, dict) for x in data):
        return {k: v for i, x in enumerate(data) for k, v in flatten(x, f"{prefix}{i}.").items()}
    return {prefix.removesuffix("."): data}


def param_value(value: Any) -> str:
    """A param as text: strings as they are, anything else as JSON (``true``, ``[0, 1]``)."""
    return value if isinstance(value, str) else json.dumps(value)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def split_record(data: dict[str, Any]) -> tuple[dict[str, str], dict[str, float]]:
    """A record's (params, metrics) by the rule in the module docstring."""
    params: dict[str, str] = {}
    metrics: dict[str, float] = {}
    for field, value in data.items():
        if field == "kind" or value is None or is_plot_data(field):
            continue
        if field in PARAM_TREES:
            params.update({k: param_value(v) for k, v in flatten({field: value}).items()})
            continue
        for key, leaf in flatten({field: value}).items():
            if _is_interval(key, leaf):
                for bound, v in zip(("low", "high"), leaf, strict=True):
                    if v is not None:
                        metrics[f"{key}_{bound}"] = float(v)
            elif _is_number(leaf):
                metrics[key] = float(leaf)
            elif leaf is not None:
                params[key] = param_value(leaf)
    return params, metrics


def _is_interval(field: str, value: Any) -> bool:
    return (
        field.endswith("_ci")
        and isinstance(value, list | tuple)
        and len(value) == 2
        and all(v is None or _is_number(v) for v in value)
    )


def label(data: dict[str, Any]) -> str:
    """The record's names and seed(s), e.g. ``arithmetic | fake-weak | ... | seed 0``."""
    names = list(dict.fromkeys(str(data[f]) for f in NAME_FIELDS if data.get(f)))
    if "seed" in data:
        names.append(f"seed {data['seed']}")
    elif "seeds" in data:
        names.append("seeds " + ",".join(str(s) for s in data["seeds"]))
    return " | ".join(names)


def entries(results: RunResults) -> list[Entry]:
    """Every cell and group of the run as an :class:`Entry`, cells first."""
    out = []
    for record, rows in (("cell", results.cells), ("group", results.groups)):
        for row in rows:
            data = row.model_dump(mode="json")
            name = label(data)
            params, metrics = split_record(data)
            key = digest([record, data["kind"], name])[:16]
            out.append(Entry(record, data["kind"], key, name, params, metrics))
    return out


def identity(results: RunResults) -> dict[str, Any]:
    """The run's config without its runtime fields: what the run id hashes."""
    return {k: v for k, v in results.config.items() if k not in RUNTIME_FIELDS}


def config_hash(results: RunResults) -> str:
    """The full hash of :func:`identity` (the run id carries its first 8 characters)."""
    return digest(identity(results))


def run_params(results: RunResults) -> dict[str, str]:
    """The sandwich run's own params: its config (without the runtime fields), flattened."""
    return {k: param_value(v) for k, v in flatten(identity(results)).items() if v is not None}


def run_metrics(results: RunResults) -> dict[str, float]:
    """Counts a reader checks first: cells, groups, failed items, warnings."""
    return {
        "n_cells": float(len(results.cells)),
        "n_groups": float(len(results.groups)),
        "n_failures": float(len(results.failures)),
        "n_warnings": float(len(results.warnings)),
    }
