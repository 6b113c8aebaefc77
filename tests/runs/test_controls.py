"""Controls: declared by elicitors, paired or added by the config, compared in results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sandwich.elicit import ELICITORS
from sandwich.errors import ConfigError
from sandwich.runs import load_config, parse_config
from sandwich.runs.results import CellResult
from sandwich.runs.w2s import CellOutcome, compare_to_controls


def _config(elicitors: list[Any], seeds: list[int] | None = None):  # type: ignore[no-untyped-def]
    return parse_config(
        {
            "tasks": ["arithmetic"],
            "weak": ["fake-weak"],
            "strong": ["fake-strong"],
            "elicitors": elicitors,
            "seeds": seeds or [0, 1, 2],
        }
    )


def test_elicitors_declare_their_controls() -> None:
    assert ELICITORS.build("probe-logconf").control_overrides() == {"aux_weight": 0.0}
    assert ELICITORS.build("probe-logconf", aux_weight=0).control_overrides() is None
    assert ELICITORS.build("probe").control_overrides() is None
    ft = ELICITORS.build("finetune", loss="logconf")
    assert ft.control_overrides() == {"loss": "xent", "loss_params": {}}
    assert ELICITORS.build("finetune").control_overrides() is None


def test_a_missing_control_is_added_and_the_resolved_config_reloads_unchanged() -> None:
    c = _config(["probe", {"name": "probe-logconf", "params": {"epochs": 5}}])
    assert [(e.display, e.name, e.params, e.control) for e in c.elicitors] == [
        ("probe", "probe", {}, None),
        ("probe-logconf", "probe-logconf", {"epochs": 5}, "probe-logconf-control"),
        ("probe-logconf-control", "probe-logconf", {"epochs": 5, "aux_weight": 0.0}, None),
    ]
    again = parse_config(c.model_dump(mode="json"))  # e.g. the run's config.yaml
    assert again == c


def test_an_entry_that_trains_the_same_way_is_paired_not_duplicated() -> None:
    c = _config([
        {"name": "probe-logconf", "label": "plain", "params": {"aux_weight": 0, "lr": 0.001}},
        "probe-logconf",
    ])  # fmt: skip
    assert [(e.display, e.control) for e in c.elicitors] == [
        ("plain", None),
        ("probe-logconf", "plain"),
    ]


def test_finetune_demo_pairs_finetune_logconf_with_its_xent_run() -> None:
    c = load_config(Path(__file__).parents[2] / "configs" / "finetune-demo.yaml")
    controls = {e.display: e.control for e in c.elicitors}
    assert controls["finetune-logconf"] == "finetune"
    assert controls["probe-logconf"] == "probe-logconf-control"
    assert len(c.elicitors) == 5  # only probe-logconf's control was added


@pytest.mark.parametrize(
    ("elicitors", "message"),
    [
        (
            [{"name": "probe-logconf", "control": "probe"}, "probe"],
            r"elicitors\.0\.control: 'probe' is not the control of 'probe-logconf'.*aux_weight",
        ),
        ([{"name": "probe", "control": "nope"}], r"elicitors\.0\.control: no elicitor .*'nope'"),
        ([{"name": "probe", "control": "probe"}], r"elicitors\.0\.control: .*its own control"),
    ],
)
def test_a_wrong_control_fails_at_load_time(elicitors: list[Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(elicitors)


def test_a_control_label_taken_by_another_entry_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"'probe-logconf-control'.*another entry has that"):
        _config(["probe-logconf", {"name": "probe", "label": "probe-logconf-control"}])


def test_an_elicitor_without_a_declared_control_may_name_any_baseline() -> None:
    c = _config(["probe", {"name": "probe-logconf", "params": {"aux_weight": 0},
                           "label": "aux0", "control": "probe"}])  # fmt: skip
    assert [(e.display, e.control) for e in c.elicitors] == [("probe", None), ("aux0", "probe")]


def _outcome(elicitor: str, seed: int, y: np.ndarray, p: np.ndarray) -> CellOutcome:
    zeros: Any = (0.0, 0.0)
    result = CellResult(
        task="arithmetic", weak="fake-weak", strong="fake-strong", elicitor=elicitor, seed=seed,
        n_train_weak=1, n_train_strong=1, n_test=len(y), weak_acc=0, weak_acc_ci=zeros,
        ceiling_acc=0, ceiling_acc_ci=zeros, student_acc=0, student_acc_ci=zeros, pgr=None,
        pgr_ci=zeros, gap=0, gap_ci=zeros, student_auroc=None, ceiling_auroc=None,
        weak_auroc=None, agreement=0, agreement_on_weak_errors=None,
        weak_label_acc_train_strong=0, student_ece=0, weak_ece=0,
    )  # fmt: skip
    return CellOutcome(result, y, p, p, p)


def test_comparisons_pair_seeds_and_items() -> None:
    c = _config(["probe-logconf"], seeds=[0, 1])
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    right = y * 0.8 + 0.1
    outcomes = []
    for seed, n_wrong_control in ((0, 2), (1, 4)):
        control = right.copy()
        control[:n_wrong_control] = 1 - control[:n_wrong_control]
        outcomes += [_outcome("probe-logconf", seed, y, right),
                     _outcome("probe-logconf-control", seed, y, control)]  # fmt: skip
    (comp,) = compare_to_controls(c, outcomes, n_boot=100)
    assert (comp.method, comp.control, comp.seeds) == (
        "probe-logconf",
        "probe-logconf-control",
        [0, 1],
    )
    assert comp.seed_diffs == pytest.approx([0.2, 0.4]) and comp.diff == pytest.approx(0.3)
    assert comp.interval == "t over seeds" and comp.n_test == 10
    # a control scored on other items cannot be paired
    outcomes[1] = _outcome("probe-logconf-control", 0, y[::-1].copy(), right)
    with pytest.raises(ValueError, match="different test items"):
        compare_to_controls(c, outcomes, n_boot=100)
