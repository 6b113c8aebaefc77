"""Controls: pair each elicitor with the same training minus the ingredient under test.

An elicitor declares its control with ``control_overrides()`` (see
:mod:`sandwich.elicit.base`): ``probe-logconf``'s is the same probe with
``aux_weight: 0``; ``finetune`` with a non-``xent`` loss has the same
fine-tuning with ``xent``. In a run config:

- an elicitor entry without ``control`` whose elicitor declares one is paired
  with an entry that trains the same way (same name, same parameters after
  defaults) if there is one, else the control is added as a new entry
  labelled ``<label>-control``; the pairing is written into ``control``, so
  the resolved config (the run's config.yaml) reads explicitly;
- ``control: <label>`` names the entry to compare with. If the elicitor
  declares a control, that entry must train the same way as the declared
  control (anything else would not isolate the ingredient); otherwise any
  other entry may be named (e.g. ``probe-logconf-control`` with
  ``control: probe`` measures what the training procedure alone changes).

After the run, :func:`compare_to_controls` computes each pair's paired
difference in accuracy (:func:`sandwich.metrics.paired.paired_difference`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sandwich.elicit import ELICITORS, ElicitorBase
from sandwich.errors import ConfigError, UnknownNameError
from sandwich.metrics.paired import paired_difference
from sandwich.runs.results import ComparisonResult

if TYPE_CHECKING:  # the config imports this module to resolve controls: types only
    from sandwich.runs.config import ElicitorConfig, RunConfig
    from sandwich.runs.w2s.cell import CellOutcome

CONTROL_SUFFIX = "-control"
# what building an entry with an unknown name or bad params raises
_BAD_ENTRY = (TypeError, ValueError, ConfigError, UnknownNameError)


def _built(e: ElicitorConfig) -> ElicitorBase | None:
    """The entry's elicitor; None if it cannot be built (an unknown name or bad params,
    which the config's own checks report with their field path)."""
    try:
        return ELICITORS.build(e.name, **e.params)
    except _BAD_ENTRY:
        return None


def declared_control(e: ElicitorConfig) -> ElicitorConfig | None:
    """The control entry ``e``'s elicitor declares, labelled ``<label>-control``; None if none."""
    built = _built(e)
    overrides = None if built is None else built.control_overrides()
    if overrides is None:
        return None
    return e.model_copy(
        update={"params": {**e.params, **overrides}, "label": e.display + CONTROL_SUFFIX,
                "control": None}
    )  # fmt: skip


def same_training(a: ElicitorConfig, b: ElicitorConfig) -> bool:
    """True if the two entries build the same elicitor with the same hyperparameters."""
    pa, pb = _built(a), _built(b)
    if a.name != b.name or pa is None or pb is None:
        return False
    return pa.get_params() == pb.get_params()


def with_controls(elicitors: Sequence[ElicitorConfig]) -> list[ElicitorConfig]:
    """The entries with every declared control paired (``control`` set) or added."""
    out = list(elicitors)
    for i, e in enumerate(elicitors):
        if e.control is not None:
            continue
        want = declared_control(e)
        if want is None:
            continue
        match = next((o for j, o in enumerate(out) if j != i and same_training(o, want)), None)
        if match is None:
            if any(o.display == want.display for o in out):
                raise ValueError(
                    f"{e.display!r} needs its control ({want.name} with "
                    f"{want.params}) added as {want.display!r}, but another entry has that "
                    "label; rename that entry or name the control with `control:`"
                )
            out.append(want)
            match = want
        out[i] = e.model_copy(update={"control": match.display})
    return out


def control_problems(elicitors: Sequence[ElicitorConfig]) -> list[str]:
    """One message per entry whose ``control`` is unknown, itself, or not its control."""
    labels = [e.display for e in elicitors]
    problems = []
    for i, e in enumerate(elicitors):
        if e.control is None:
            continue
        where = f"elicitors.{i}.control"
        if e.control == e.display:
            problems.append(f"{where}: an elicitor cannot be its own control")
            continue
        if e.control not in labels:
            problems.append(
                f"{where}: no elicitor labelled {e.control!r} (labels: {', '.join(labels)})"
            )
            continue
        want = declared_control(e)
        named = elicitors[labels.index(e.control)]
        if want is not None and not same_training(named, want):
            over = {k: v for k, v in want.params.items() if e.params.get(k) != v}
            problems.append(
                f"{where}: {e.control!r} is not the control of {e.display!r}, which is "
                f"{e.name} with {over} and every other parameter unchanged; name such an "
                "entry or leave out `control` to have it added"
            )
    return problems


def compare_to_controls(
    config: RunConfig, outcomes: Sequence[CellOutcome], n_boot: int
) -> list[ComparisonResult]:
    """Every (task, weak, strong) x (elicitor with a control): the paired difference in
    student accuracy, method minus control, over the seeds where both ran."""
    results = [(o.result, o) for o in outcomes]
    cells = {(r.task, r.weak, r.strong, r.elicitor, r.seed): o for r, o in results}
    out = []
    for e in config.elicitors:
        if e.control is None:
            continue
        kind = ELICITORS.build(e.name, **e.params).inputs
        for task, weak, strong in dict.fromkeys(k[:3] for k in cells):
            pairs = [
                (s, cells[mk], cells[ck])
                for s in config.seeds
                if (mk := (task, weak, strong, e.display, s)) in cells
                and (ck := (task, weak, strong, e.control, s)) in cells
            ]
            if not pairs:
                continue
            for s, m, c in pairs:
                if not np.array_equal(m.y_test, c.y_test):
                    raise ValueError(
                        f"{task} | {weak} -> {strong} | seed {s}: {e.display} and {e.control} "
                        "were scored on different test items; they cannot be paired"
                    )
            d = paired_difference(
                [(m.y_test, m.p_student, c.p_student) for _, m, c in pairs], n_boot=n_boot
            )
            out.append(
                ComparisonResult(
                    task=task,
                    weak=weak,
                    strong=strong,
                    method=e.display,
                    control=e.control,
                    method_kind=kind,
                    seeds=[s for s, _, _ in pairs],
                    n_seeds=d.n_seeds,
                    n_test=len(pairs[0][1].y_test),
                    method_acc=d.method_acc,
                    control_acc=d.control_acc,
                    diff=d.diff,
                    diff_ci=(d.low, d.high),
                    interval=d.interval,
                    seed_diffs=list(d.seed_diffs),
                )
            )
    return out
