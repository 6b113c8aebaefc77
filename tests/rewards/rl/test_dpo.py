"""Offline DPO on proxy-ranked pairs on a tiny random Llama: evaluations, KL, gold."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from sandwich.errors import ConfigError
from sandwich.rewards.rl import DPOParams, read_steps, run_dpo

from .conftest import PROMPTS, count_word

# chosen has the proxy's word ("paris"), rejected the gold's ("rome"): optimising the
# proxy's preferences drives the gold reward down
PAIRS = [(p, f"paris paris {w}", f"{w} rome") for p in PROMPTS for w in ("the", "city", "big")]


@pytest.mark.parametrize("lora", [False, True])
def test_dpo_logs_gold_proxy_and_kl_per_eval(tiny_policy: Path, tmp_path: Path, lora: bool) -> None:
    cfg = DPOParams(
        max_steps=4, lr=0.01 if not lora else 0.05, batch_size=4, max_new_tokens=8,
        eval_every=2, eval_samples=4, lora=lora,
    )  # fmt: skip
    steps = run_dpo(
        str(tiny_policy), PAIRS, count_word("rome"), PROMPTS, cfg,
        proxy=count_word("paris"), out_dir=tmp_path,
    )  # fmt: skip
    assert [s.step for s in steps] == [0, 2, 4]
    assert steps[0].kl == 0.0 and steps[0].kl_logratio == 0.0 and steps[0].loss is None
    assert all(math.isfinite(s.kl) and s.kl >= 0 for s in steps)
    assert steps[-1].kl > 0  # the policy moved
    assert all(s.n_samples == len(PROMPTS) * cfg.eval_samples for s in steps)
    assert all(s.loss is not None and math.isfinite(s.loss) for s in steps[1:])
    assert all(math.isfinite(s.proxy) and math.isfinite(s.gold) for s in steps)
    assert read_steps(tmp_path / "steps.jsonl") == steps


def test_dpo_without_proxy_logs_nan_proxy(tiny_policy: Path) -> None:
    cfg = DPOParams(max_steps=1, batch_size=2, max_new_tokens=4, eval_samples=1)
    steps = run_dpo(str(tiny_policy), PAIRS[:2], count_word("rome"), PROMPTS[:2], cfg)
    assert [s.step for s in steps] == [0, 1]
    assert all(math.isnan(s.proxy) and math.isfinite(s.gold) for s in steps)


def test_bad_pairs_and_params_raise_clearly(tiny_policy: Path) -> None:
    gold = count_word("rome")
    with pytest.raises(ConfigError, match="pairs: empty"):
        run_dpo(str(tiny_policy), [], gold, PROMPTS)
    with pytest.raises(ConfigError, match=r"pairs\[1\]: a \(prompt, chosen, rejected\) triple"):
        run_dpo(str(tiny_policy), [PAIRS[0], ("p", "c")], gold, PROMPTS)  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=r"pairs\[0\]: chosen and rejected are the same"):
        run_dpo(str(tiny_policy), [("p", "same", "same")], gold, PROMPTS)
    with pytest.raises(ConfigError, match="eval_prompts: empty"):
        run_dpo(str(tiny_policy), PAIRS, gold, [])
    with pytest.raises(ValidationError, match="eval_every"):
        DPOParams(max_steps=2, eval_every=3)
    with pytest.raises(ValidationError, match="beta"):
        DPOParams(beta=0)
