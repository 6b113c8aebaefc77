"""DPO in the reward kind (``reward.dpo``): the policy trained offline on B's comparisons
ranked by the bt proxy, evaluated on T's prompts with gold, proxy and KL per evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sandwich.errors import ConfigError
from sandwich.rewards.data import Comparison, Completion, RewardPrompt
from sandwich.runs import parse_config, run
from sandwich.runs.executor import LocalExecutor
from sandwich.runs.reward.cell import proxy_ranked_pairs
from sandwich.store import ArtifactStore

from .test_reward_finetuned_kind import tiny_llama


def test_dpo_pairs_are_bs_comparisons_ranked_by_the_proxy() -> None:
    """The side the proxy scores higher is chosen (whatever the gold says); proxy ties
    and two identical texts are left out; only B's comparisons are read."""
    p = RewardPrompt("p", "What is 1 + 1?", (Completion(" 2", 0.0), Completion(" 3", -1.0),
                                            Completion(" 3", -1.0)), group="g")  # fmt: skip
    comps = [Comparison("p", 0, 1, 1.0), Comparison("p", 1, 0, 0.0),
             Comparison("p", 1, 2, 0.5), Comparison("p", 0, 2, 1.0)]  # fmt: skip
    scores = np.array([0.1, 0.9, 0.1])  # the proxy prefers the wrong " 3" (row 1); row 2 ties 0
    rows = {"train_strong": (np.array([0, 1, 1, 0]), np.array([1, 0, 2, 2]))}
    data = SimpleNamespace(
        rows=rows.__getitem__,
        parts={"train_strong": SimpleNamespace(prompts=(p,))},
        comparisons={"train_strong": comps, "test": "T's comparisons are never read"},
    )
    pairs = proxy_ranked_pairs(data, scores)  # type: ignore[arg-type]
    assert pairs == [("What is 1 + 1?", " 3", " 2"), ("What is 1 + 1?", " 3", " 2")]


def test_dpo_needs_a_local_policy_and_the_bt_proxy() -> None:
    section = {
        "task": "arith-prefs", "policy": {"backend": "fake", "model": "p"},
        "strong": ["fake-strong"], "supervisors": ["gold"], "reward_models": ["finetuned"],
        "finetuned": {}, "dpo": {"beta": 0},
    }  # fmt: skip
    with pytest.raises(ConfigError) as err:
        parse_config({"name": "x", "reward": section})
    text = str(err.value)
    assert "reward.dpo.beta" in text and "reward.dpo: DPO trains the policy's weights" in text
    assert "reward.dpo: DPO's pairs are ranked by the bt reward model" in text


@pytest.fixture
def _one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.integration  # TRL's DPO on a tiny model: tens of seconds of CPU when loaded
@pytest.mark.usefixtures("_one_thread")
def test_the_dpo_block_trains_the_policy_and_logs_gold_proxy_and_kl(tmp_path: Path) -> None:
    """DPO of a tiny local policy on B's proxy-ranked pairs: an evaluation before training
    (KL 0) and after each step, with gold and proxy; plotted; read back on a rerun."""
    llama = str(tiny_llama(tmp_path / "llama"))
    section: dict[str, Any] = {
        "task": {"name": "arith-prefs", "n_prompts": 30, "params": {"ops": "+"}},
        "policy": {"backend": "local", "model": llama, "prompt_format": "plain"},
        "strong": [llama],
        "supervisors": ["gold"],
        "sampling": {"max_new_tokens": 3},
        "comparisons": {"samples": 3, "per_prompt": 3},
        "bon": {"n": 4},
        "dpo": {"max_steps": 2, "batch_size": 2, "eval_samples": 1, "max_new_tokens": 3,
                "max_length": 48, "lr": 1e-2, "prompt_format": "plain"},
    }  # fmt: skip
    cfg = parse_config({"name": "rwdpo", "seeds": [0], "bootstrap": {"n_boot": 100},
                        "reward": section})  # fmt: skip
    store = ArtifactStore(tmp_path / "store")

    def go() -> Any:
        return run(cfg, runs_root=tmp_path / "runs", store=store, progress=False,
                   executor=LocalExecutor(progress=False))  # fmt: skip

    out = go()
    (row,) = out.results.cells_of("reward")
    assert [s.step for s in row.dpo] == [0, 1, 2] and row.rl == []
    assert row.dpo[0].kl == pytest.approx(0.0, abs=1e-6) and all(s.kl >= 0.0 for s in row.dpo)
    assert row.dpo[-1].kl > 0.0  # the policy moved
    assert all(np.isfinite([s.gold, s.proxy]).all() for s in row.dpo)
    assert list((out.run_dir / "plots").glob("reward-dpo-*.png"))
    again = go()
    assert again.results.cells_of("reward")[0].dpo == row.dpo
