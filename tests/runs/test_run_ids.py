"""The run id of every shipped config is pinned: a change to how configs are parsed,
documented or hashed (new kinds, new sections) must not move an existing run's directory.

The ids of the configs older than pluggable kinds were computed on the code before, with
``sandwich.runs.run_id_for(load_config(path))`` for each ``configs/*.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sandwich.runs import load_config, run_id_for

CONFIGS = Path(__file__).parents[2] / "configs"
PINNED = {
    "cities.yaml": "cities-43d7e36f",
    "debate-demo.yaml": "debate-demo-5955fc48",
    "debate-openai.yaml": "debate-openai-b8937cc5",
    "demo-controls.yaml": "demo-controls-5dcfda48",
    "demo.yaml": "demo-4fa0026d",
    "finetune-demo-weakft.yaml": "finetune-demo-weakft-39ab8ae1",
    "finetune-demo.yaml": "finetune-demo-12244847",
    "finetune-gpu.yaml": "finetune-gpu-b0891f1f",
    "honesty.yaml": "honesty-72dbb777",
    "nonexpert-errors.yaml": "nonexpert-errors-cf3530fd",
    "reporters.yaml": "reporters-0cd73c49",
    "reward-demo.yaml": "reward-demo-c3fba9bd",
    "reward-gpu.yaml": "reward-gpu-b26ca2f3",
    "sandbagging.yaml": "sandbagging-9bbb4ae2",
    "truth-probes.yaml": "truth-probes-37f01894",
}


def test_every_shipped_config_is_pinned() -> None:
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_run_id_of_a_shipped_config_does_not_change(name: str) -> None:
    assert run_id_for(load_config(CONFIGS / name)) == PINNED[name]
