"""Online RL against a proxy on a tiny random Llama: per-step log, KL, gold kept out of training."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pytest
from pydantic import ValidationError

from sandwich.errors import ConfigError
from sandwich.rewards.rl import RLParams, RLStep, read_steps, run_policy_rl

from .conftest import PROMPTS, count_word

# full fine-tuning at a high lr: the toy proxy (count "paris") rises within a few steps
FAST = RLParams(
    steps=6, lr=0.03, beta=0.01, batch_size=4, num_generations=4, max_new_tokens=8, lora=False
)


@pytest.fixture(scope="module")
def climb(tiny_policy: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[RLStep], Path]:
    out = tmp_path_factory.mktemp("rl-out")
    return run_policy_rl(
        str(tiny_policy), PROMPTS, count_word("paris"), count_word("rome"), FAST, out
    ), out


def test_one_step_per_step_with_finite_kl_from_zero(climb: tuple[list[RLStep], Path]) -> None:
    steps, _ = climb
    assert [s.step for s in steps] == list(range(1, FAST.steps + 1))
    assert all(s.n_samples == FAST.batch_size * FAST.num_generations for s in steps)
    assert steps[0].kl == 0.0  # the first samples come from the initial policy
    assert all(math.isfinite(s.kl) and s.kl >= 0.0 for s in steps)
    assert steps[-1].kl > 0.0  # the policy moved away from the initial one
    for s in steps:  # kl is per completion: the per-token estimate times the mean length
        assert s.kl == pytest.approx(s.kl_per_token * s.completion_length)
        assert 0 < s.completion_length <= FAST.max_new_tokens
        assert all(math.isfinite(v) for v in (s.proxy, s.gold, s.loss or 0.0))


def test_high_lr_moves_the_proxy_up(climb: tuple[list[RLStep], Path]) -> None:
    steps, _ = climb
    first = sum(s.proxy for s in steps[:3]) / 3
    last = sum(s.proxy for s in steps[-3:]) / 3
    # measured: 0.06, 0.25, 0.31 over the first three steps, then 0.44, 1.31, 2.75
    assert last > first + 0.5, [round(s.proxy, 2) for s in steps]


def test_steps_are_written_to_out_dir(climb: tuple[list[RLStep], Path]) -> None:
    steps, out = climb
    assert read_steps(out / "steps.jsonl") == steps


def test_gold_is_recorded_but_never_trains(tiny_policy: Path) -> None:
    """A gold that rewards the opposite of the proxy (and would reverse training if it
    reached the trainer) changes nothing but the gold column; it sees the proxy's samples."""
    seen: dict[str, list[tuple[str, ...]]] = {"proxy": [], "gold": []}
    paris = count_word("paris")

    def proxy(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        seen["proxy"].append(tuple(completions))
        return paris(prompts, completions)

    def anti_gold(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        seen["gold"].append(tuple(completions))
        return [-100.0 * r for r in paris(prompts, completions)]

    cfg = FAST.model_copy(update={"steps": 3})
    a = run_policy_rl(str(tiny_policy), PROMPTS, proxy, count_word("rome"), cfg, None)
    b = run_policy_rl(str(tiny_policy), PROMPTS, proxy, anti_gold, cfg, None)
    assert [(s.proxy, s.kl, s.loss) for s in a] == [(s.proxy, s.kl, s.loss) for s in b]
    assert seen["gold"] == seen["proxy"][len(a) :]  # gold scored exactly the proxy's samples
    assert [s.gold for s in b] == [-100.0 * s.proxy for s in b]
    assert [s.gold for s in a] != [s.gold for s in b]


def test_save_policy_writes_the_adapter(tiny_policy: Path, tmp_path: Path) -> None:
    cfg = RLParams(steps=1, batch_size=1, num_generations=2, max_new_tokens=2, save_policy=True)
    run_policy_rl(str(tiny_policy), PROMPTS, count_word("paris"), count_word("rome"), cfg, tmp_path)
    assert (tmp_path / "policy" / "adapter_config.json").is_file()
    assert (tmp_path / "steps.jsonl").is_file()
    with pytest.raises(ConfigError, match="save_policy needs an out_dir"):
        run_policy_rl(str(tiny_policy), PROMPTS, count_word("paris"), count_word("rome"), cfg)


def test_rloo_trainer_runs(tiny_policy: Path) -> None:
    cfg = RLParams(trainer="rloo", steps=2, batch_size=2, num_generations=2, max_new_tokens=4)
    steps = run_policy_rl(str(tiny_policy), PROMPTS, count_word("paris"), count_word("rome"), cfg)
    assert [s.step for s in steps] == [1, 2] and steps[0].kl == 0.0
    # RLOO's KL is TRL's log-ratio estimate (k1): unbiased, not clipped at 0
    assert all(math.isfinite(s.kl) and s.kl_logratio == s.kl for s in steps)


@pytest.mark.parametrize("trainer", ["grpo", "rloo"])
def test_samples_reused_over_iterations_are_logged_per_step(
    tiny_policy: Path, trainer: Literal["grpo", "rloo"]
) -> None:
    cfg = RLParams(
        trainer=trainer, steps=2, num_iterations=2, batch_size=2, num_generations=2,
        max_new_tokens=4,
    )  # fmt: skip
    calls: list[int] = []
    paris = count_word("paris")

    def proxy(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        calls.append(len(completions))
        return paris(prompts, completions)

    steps = run_policy_rl(str(tiny_policy), PROMPTS, proxy, count_word("rome"), cfg)
    assert calls == [4]  # one generation, trained on twice
    assert [s.step for s in steps] == [1, 2] and steps[0].proxy == steps[1].proxy
    assert steps[0].kl == 0.0
    if trainer == "grpo":  # GRPO's KL is at the current policy: the second pass has moved
        assert steps[1].kl > 0.0
    else:  # RLOO's is the KL of the policy that sampled: the same samples, the same KL
        assert steps[1].kl == 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("beta", 0.0), ("num_generations", 1), ("steps", 0), ("trainer", "ppo"), ("lr", -1.0)],
)
def test_bad_params_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        RLParams(**{field: value})


def test_bad_inputs_raise_clearly(tiny_policy: Path) -> None:
    gold = count_word("rome")
    with pytest.raises(ConfigError, match="prompts: empty"):
        run_policy_rl(str(tiny_policy), [], gold, gold, RLParams())
    with pytest.raises(ConfigError, match=r"prompts\[1\]"):
        run_policy_rl(str(tiny_policy), ["ok", ""], gold, gold, RLParams())
    with pytest.raises(ConfigError, match="not a transformers model"):
        run_policy_rl("fake-weak", PROMPTS, gold, gold, RLParams())

    def short(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return [0.0]

    cfg = RLParams(steps=1, batch_size=1, num_generations=2, max_new_tokens=2)
    with pytest.raises(ValueError, match="proxy reward returned 1 values for 2"):
        run_policy_rl(str(tiny_policy), PROMPTS, short, gold, cfg)
    with pytest.raises(ValueError, match="gold reward returned 1 values for 2"):
        run_policy_rl(str(tiny_policy), PROMPTS, gold, short, cfg)
