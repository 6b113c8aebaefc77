"""What the report shows besides the tables: metadata, the config as YAML, and
the w2s kind's flags and warnings."""

from __future__ import annotations

from typing import Any

import yaml

from sandwich.elicit.base import ZERO_SUPERVISION
from sandwich.results import (
    FLAG_FEW_SEEDS,
    FLAG_ORACLE,
    FLAG_SINGLE_SEED,
    FLAG_SMALL_GAP,
    FLAG_SMALL_TEST,
    FLAG_UNBOUNDED_CI,
    INFO_FLAGS,
    LEGACY_GROUP_CI,
    RunResults,
)

FLAG_MEANINGS = {
    FLAG_SINGLE_SEED: "within-seed interval (one seed): does not include training-seed "
    "variance (a paired bootstrap over that seed's test items)",
    FLAG_FEW_SEEDS: "2-4 seeds: the interval over seeds (t / Fieller, k - 1 df) is honest but "
    "wide because seeds are few",
    FLAG_UNBOUNDED_CI: "PGR's 95% confidence set is unbounded (the gap is not clearly above 0 "
    "across seeds): no PGR interval is shown",
    FLAG_SMALL_GAP: "the ceiling-weak gap is within noise (its CI includes 0) or below the "
    "minimum gap: PGR is not meaningful",
    FLAG_SMALL_TEST: "too few test items for a reliable CI",
    FLAG_ORACLE: "gold labels of B or T were used (a diagnostic, not a weak-to-strong result)",
    ZERO_SUPERVISION: "an unsupervised reporter (ccs, crc, icm): no labels were learned from, the "
    "supervisor's labels of B only fixed the sign of its direction (docs/reporters.md)",
}
# flags that say what kind of row this is, not a problem with its numbers
ROW_KIND_FLAGS = frozenset({ZERO_SUPERVISION})


def config_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)


def meta(results: RunResults) -> list[tuple[str, str]]:
    return [
        ("run id", results.run_id),
        ("created", results.created),
        ("sandwich version", results.sandwich_version),
        ("results schema", str(results.schema_version)),
        ("cells", str(len(results.cells))),
        ("groups", str(len(results.groups))),
    ]


def w2s_warnings(results: RunResults) -> list[str]:
    """Warnings the w2s report adds to the run's: one line per oracle cell (never
    hidden), groups with a small gap, intervals of an older sandwich."""
    out = []
    for c in results.w2s_cells():
        if FLAG_ORACLE in c.flags:
            out.append(
                f"{c.task} | {c.weak} -> {c.strong} | {c.elicitor} | seed {c.seed}: "
                "ORACLE diagnostic (gold labels used); not a weak-to-strong result"
            )
    small = sum(1 for g in results.w2s_groups() if FLAG_SMALL_GAP in g.flags)
    if small:
        out.append(
            f"{small} of {len(results.w2s_groups())} groups have a small gap: their PGR is shown "
            "but should not be read"
        )
    legacy = sum(1 for g in results.w2s_groups() if g.ci_method == LEGACY_GROUP_CI)
    if legacy:
        out.append(
            f"{legacy} groups have intervals from an older sandwich (two-level bootstrap over "
            "seeds and items), which under-covers when seeds differ: run the config again "
            "(cells come from the cache) to update them"
        )
    return out


def flagged(flags: list[str] | tuple[str, ...] | str) -> bool:
    """Whether a row should be shown as flagged: it carries a flag beyond the
    informational ones (single_seed, few_seeds say how the interval was made;
    zero_supervision what kind of elicitor the row is).

    A flag may carry its elicitor as a prefix (``probe: single_seed``, the
    side-by-side table); only the name after the last colon counts.
    """
    entries = flags.split(",") if isinstance(flags, str) else flags
    names = [f.rsplit(":", 1)[-1].strip() for f in entries]
    return any(f and f not in INFO_FLAGS and f not in ROW_KIND_FLAGS for f in names)


def used_flags(results: RunResults) -> list[tuple[str, str]]:
    """(flag, meaning) for every flag that appears in the results."""
    seen = {f for g in results.w2s_groups() for f in g.flags} | {
        f for c in results.w2s_cells() for f in c.flags
    }
    return [(f, FLAG_MEANINGS.get(f, "")) for f in sorted(seen)]
