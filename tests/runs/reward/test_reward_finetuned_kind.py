"""The reward kind with a fine-tuned reward model, on a tiny random Llama saved locally:
the stage trains, stores the rewards of every completion, and a rerun reads them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandwich.runs import parse_config, run
from sandwich.runs.executor import LocalExecutor
from sandwich.store import ArtifactStore
from sandwich.testing.tiny_models import build_tiny_llama

from .test_reward_kind import ArithPolicy


def tiny_llama(directory: Path) -> Path:
    words = ["What", "is", "Answer", "+", "=", "?", ":", *(str(d) for d in range(10))]
    return build_tiny_llama(directory, words)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_finetuned_reward_model_runs_stores_and_resumes(tmp_path: Path) -> None:
    strong = str(tiny_llama(tmp_path / "llama"))
    section: dict[str, Any] = {
        "task": {"name": "arith-prefs", "n_prompts": 30, "params": {"ops": "+"}},
        "policy": {"backend": "fake", "model": "arith-policy"},
        "strong": [strong],
        "supervisors": ["gold", "nonexpert"],
        "reward_models": ["bt", "finetuned"],
        "comparisons": {"samples": 3, "per_prompt": 3},
        "bon": {"n": 4},
        "finetuned": {"mode": "full", "epochs": 1, "lr": 1e-3, "batch_size": 8,
                      "minibatch_size": 8, "max_length": 24, "num_threads": 1},
    }  # fmt: skip
    cfg = parse_config({"name": "rwft", "seeds": [0], "bootstrap": {"n_boot": 100},
                        "reward": section})  # fmt: skip
    store = ArtifactStore(tmp_path / "store")

    def go() -> Any:
        return run(cfg, runs_root=tmp_path / "runs", store=store, progress=False,
                   executor=LocalExecutor(progress=False),
                   generators={"arith-policy": ArithPolicy()})  # fmt: skip

    out = go()
    rows = out.results.cells_of("reward")
    assert sorted((r.supervisor, r.rm) for r in rows) == [
        ("gold", "bt"), ("gold", "finetuned"), ("nonexpert", "bt"), ("nonexpert", "finetuned"),
    ]  # fmt: skip
    ft = [r for r in rows if r.rm == "finetuned"]
    assert all(0.0 <= r.student_acc <= 1.0 and r.bon for r in ft)
    rm_dir = store.root / "artifacts" / "reward-rm"
    stored = [p for p in rm_dir.glob("*/*") if p.is_dir()]
    assert len(stored) == 4  # bt and finetuned, on the nonexpert's and on gold labels
    assert not list((store.root / "checkpoints").glob("*/*"))  # removed once stored
    again = go()
    assert [r.student_acc for r in again.results.cells_of("reward")] == [
        r.student_acc for r in rows
    ]


@pytest.mark.integration  # TRL's GRPO on a tiny model: about 15 s of CPU, more when loaded
def test_the_rl_block_trains_the_policy_against_the_proxy_and_logs_gold(tmp_path: Path) -> None:
    """RL (rewards.rl, TRL GRPO) of a tiny local policy against the bt proxy on T's prompts:
    one logged step each with KL, proxy and gold; plotted; read back on a rerun."""
    llama = str(tiny_llama(tmp_path / "llama"))
    section: dict[str, Any] = {
        "task": {"name": "arith-prefs", "n_prompts": 30, "params": {"ops": "+"}},
        "policy": {"backend": "local", "model": llama, "prompt_format": "plain"},
        "strong": [llama],
        "supervisors": ["gold"],
        "sampling": {"max_new_tokens": 3},
        "comparisons": {"samples": 3, "per_prompt": 3},
        "bon": {"n": 4},
        "rl": {"steps": 3, "batch_size": 2, "num_generations": 2, "max_new_tokens": 3,
               "prompt_format": "plain"},
    }  # fmt: skip
    cfg = parse_config({"name": "rwrl", "seeds": [0], "bootstrap": {"n_boot": 100},
                        "reward": section})  # fmt: skip
    store = ArtifactStore(tmp_path / "store")

    def go() -> Any:
        return run(cfg, runs_root=tmp_path / "runs", store=store, progress=False,
                   executor=LocalExecutor(progress=False))  # fmt: skip

    out = go()
    (row,) = out.results.cells_of("reward")
    assert [s.step for s in row.rl] == [1, 2, 3] or len(row.rl) == 3
    assert all(s.kl >= 0.0 for s in row.rl)
    assert list((out.run_dir / "plots").glob("reward-rl-*.png"))
    again = go()
    assert again.results.cells_of("reward")[0].rl == row.rl


def test_rl_needs_a_local_policy_and_the_bt_proxy() -> None:
    from sandwich.errors import ConfigError

    section = {
        "task": "arith-prefs", "policy": {"backend": "fake", "model": "p"},
        "strong": ["fake-strong"], "supervisors": ["gold"], "reward_models": ["finetuned"],
        "finetuned": {}, "rl": {"steps": 0},
    }  # fmt: skip
    with pytest.raises(ConfigError) as err:
        parse_config({"name": "x", "reward": section})
    text = str(err.value)
    assert "reward.rl.steps" in text and "give a local policy" in text
    assert "add bt to reward_models" in text
