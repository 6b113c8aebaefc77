"""Offline optimisation against the proxy: TRL's DPO on proxy-ranked pairs.

The pairs (prompt, chosen, rejected) are ranked by the proxy beforehand; DPO
never sees a reward. Before training (step 0) and every ``eval_every`` steps the
current policy samples ``eval_samples`` completions of each eval prompt (the
same seed every time, so evaluations differ only by the policy), and the run
logs their gold reward, their proxy reward when a proxy is given, and their KL
to the initial policy: the k3 estimate summed over tokens (``kl``, >= 0, the
same estimator as the RL runs) and the plain mean log-ratio (``kl_logratio``,
unbiased but noisy, can be < 0). The initial policy is the base model with the
LoRA adapters disabled, or TRL's frozen reference copy when training every weight.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandwich.errors import ConfigError
from sandwich.rewards.rl.log import RLStep, write_steps
from sandwich.rewards.rl.params import DPOParams
from sandwich.rewards.rl.policy import (
    Policy,
    RewardFn,
    call_reward,
    check_prompts,
    load_policy,
    lora_config,
    offline,
    quiet,
    sample_with_kl,
    torch_threads,
    trainer_device_args,
)


def check_pairs(pairs: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """``pairs`` as a list of (prompt, chosen, rejected) strings; ConfigError naming a bad one."""
    out = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, tuple | list) or len(pair) != 3:
            raise ConfigError(f"pairs[{i}]: a (prompt, chosen, rejected) triple, got {pair!r}")
        if not all(isinstance(x, str) for x in pair) or not str(pair[0]).strip():
            raise ConfigError(
                f"pairs[{i}]: prompt, chosen and rejected must be strings, got {pair!r}"
            )
        if pair[1] == pair[2]:
            raise ConfigError(f"pairs[{i}]: chosen and rejected are the same text {pair[1]!r}")
        out.append((pair[0], pair[1], pair[2]))
    if not out:
        raise ConfigError("pairs: empty; give at least one (prompt, chosen, rejected)")
    return out


def run_dpo(
    policy: str,
    pairs: Sequence[tuple[str, str, str]],
    gold: RewardFn,
    eval_prompts: Sequence[str],
    cfg: DPOParams | None = None,
    *,
    proxy: RewardFn | None = None,
    out_dir: Path | None = None,
    store: Any = None,
) -> list[RLStep]:
    """DPO of ``policy`` on proxy-ranked ``pairs``; one RLStep per evaluation (step 0 first).

    ``gold`` (and ``proxy`` if given) score the eval samples only; ``out_dir``: TRL's
    output and ``steps.jsonl`` (a temporary directory if None).
    """
    cfg = cfg if cfg is not None else DPOParams()
    if not isinstance(cfg, DPOParams):
        raise ConfigError(f"run_dpo: cfg must be DPOParams, got {type(cfg).__name__}")
    rows = check_pairs(pairs)
    evals = check_prompts(eval_prompts, "eval_prompts")
    if not callable(gold) or (proxy is not None and not callable(proxy)):
        raise ConfigError("run_dpo: gold (and proxy) must be callables (prompts, completions)")
    if cfg.save_policy and out_dir is None:
        raise ConfigError("run_dpo: save_policy needs an out_dir to write the policy to")
    with tempfile.TemporaryDirectory(prefix="sandwich-dpo-") as tmp:
        work = Path(out_dir) if out_dir is not None else Path(tmp)
        with torch_threads(cfg.num_threads), offline():
            steps = _train(policy, rows, gold, proxy, evals, cfg, work, store)
    if out_dir is not None:
        write_steps(Path(out_dir) / "steps.jsonl", steps)
    return steps


class _Evaluator:
    """Samples the eval prompts from the current policy and scores them (module docstring)."""

    def __init__(
        self,
        policy: Policy,
        prompts: list[str],
        gold: RewardFn,
        proxy: RewardFn | None,
        cfg: DPOParams,
    ) -> None:
        self.policy, self.prompts, self.gold, self.proxy, self.cfg = (
            policy,
            prompts,
            gold,
            proxy,
            cfg,
        )
        self.trainer: Any = None  # set once built: its reference model when not LoRA
        self.rows: dict[int, dict[str, Any]] = {}
        self.losses: dict[int, float] = {}
        self.started = time.perf_counter()

    def evaluate(self, step: int, model: Any) -> None:
        ref_model = getattr(self.trainer, "ref_model", None)
        reference = model.disable_adapter if ref_model is None else contextlib.nullcontext
        s = sample_with_kl(
            self.policy, model, self.prompts, self.cfg.eval_samples, self.cfg,
            reference=reference, ref_model=ref_model, seed=self.cfg.seed,
        )  # fmt: skip
        gold = call_reward(self.gold, "gold", s.prompts, s.completions)
        proxy = call_reward(self.proxy, "proxy", s.prompts, s.completions) if self.proxy else None
        self.rows[step] = {
            "kl": statistics.fmean(s.kl_k3),
            "kl_logratio": statistics.fmean(s.kl_logratio),
            "length": statistics.fmean(s.lengths),
            "gold": gold,
            "proxy": proxy,
            "seconds": time.perf_counter() - self.started,
        }

    def steps(self) -> list[RLStep]:
        out = []
        for step, r in sorted(self.rows.items()):
            proxy = r["proxy"]
            length = r["length"]
            out.append(
                RLStep(
                    step=step,
                    kl=r["kl"],
                    proxy=statistics.fmean(proxy) if proxy else float("nan"),
                    gold=statistics.fmean(r["gold"]),
                    kl_per_token=r["kl"] / length if length else 0.0,
                    proxy_std=statistics.pstdev(proxy) if proxy else float("nan"),
                    gold_std=statistics.pstdev(r["gold"]),
                    completion_length=length,
                    n_samples=len(r["gold"]),
                    loss=self.losses.get(step),
                    kl_logratio=r["kl_logratio"],
                    seconds=r["seconds"],
                )
            )
        return out


def _callback(ev: _Evaluator) -> Any:
    from transformers import TrainerCallback

    class EvalLog(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            ev.evaluate(0, kw["model"])

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            step = int(state.global_step)
            if step % ev.cfg.eval_every == 0 or step == state.max_steps:
                ev.evaluate(step, kw["model"])

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                ev.losses[int(state.global_step)] = float(logs["loss"])

    return EvalLog()


def _train(
    policy_name: str,
    pairs: list[tuple[str, str, str]],
    gold: RewardFn,
    proxy: RewardFn | None,
    eval_prompts: list[str],
    cfg: DPOParams,
    work: Path,
    store: Any,
) -> list[RLStep]:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    policy = load_policy(policy_name, cfg, store)
    chat = policy.prompt_format == "chat"

    def answer(text: str) -> Any:
        return [{"role": "assistant", "content": text}] if chat else text

    data = Dataset.from_dict(
        {
            "prompt": [policy.render(p) for p, _, _ in pairs],
            "chosen": [answer(c) for _, c, _ in pairs],
            "rejected": [answer(r) for _, _, r in pairs],
        }
    )
    args = DPOConfig(
        output_dir=str(work),
        learning_rate=cfg.lr,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=1,
        beta=cfg.beta,
        max_length=cfg.max_length,
        **trainer_device_args(cfg, policy.model),
    )
    ev = _Evaluator(policy, eval_prompts, gold, proxy, cfg)
    trainer = DPOTrainer(
        model=policy.model,
        args=args,
        train_dataset=data,
        processing_class=policy.tokenizer,
        peft_config=lora_config(policy.model, cfg),
        callbacks=[_callback(ev)],
    )
    ev.trainer = trainer
    quiet(trainer)
    trainer.train()
    if cfg.save_policy:
        trainer.save_model(str(work / "policy"))
    return ev.steps()
