"""Online RL of a policy against a proxy reward through TRL (GRPO by default, or RLOO).

Why GRPO by default: it is the trainer TRL maintains most, and with ``beta > 0``
it computes each step's KL to the initial policy on the very samples the proxy
scored (before that step's update), which is exactly the pairing an
over-optimisation curve needs; the KL is a penalty in the loss. RLOO (same
interface here) puts the KL penalty into the reward, as Gao et al.'s PPO did,
with a leave-one-out baseline; pick it with ``trainer: rloo``.

The proxy is TRL's only reward function. The gold reward is computed by the
same wrapper on the same completions and only recorded: its values never reach
the trainer (tests/rewards/rl/test_grpo.py checks that a different gold leaves
training unchanged). KL per step is TRL's logged per-token estimate times the
mean completion length, i.e. the mean over completions of the summed per-token
estimate: nats per completion, 0 at the initial policy (GRPO's estimator is k3,
>= 0; RLOO's the log-ratio k1, unbiased but can be slightly < 0). ``beta`` must be > 0
(TRL computes reference log-probs only then); use a tiny beta for an almost
unpenalised run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandwich.errors import ConfigError
from sandwich.rewards.rl.log import RLStep, write_steps
from sandwich.rewards.rl.params import RLParams
from sandwich.rewards.rl.policy import (
    RewardFn,
    call_reward,
    check_prompts,
    completion_text,
    load_policy,
    lora_config,
    offline,
    quiet,
    torch_threads,
    trainer_device_args,
)


class _Recorder:
    """TRL's reward function: returns the proxy; records proxy and gold per generation step."""

    def __init__(self, proxy: RewardFn, gold: RewardFn) -> None:
        self.proxy, self.gold = proxy, gold
        self.by_step: dict[int, dict[str, list[float]]] = {}
        self.__name__ = "proxy"  # TRL names the reward column after it

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        texts = [completion_text(c) for c in completions]
        raw = [str(p) for p in kwargs["raw_prompt"]]  # the dataset's column: the raw prompt texts
        proxy = call_reward(self.proxy, "proxy", raw, texts)
        gold = call_reward(self.gold, "gold", raw, texts)  # recorded only, never returned
        state = kwargs.get("trainer_state")
        step = int(state.global_step) if state is not None else len(self.by_step)
        row = self.by_step.setdefault(step, {"proxy": [], "gold": [], "length": []})
        row["proxy"] += proxy
        row["gold"] += gold
        row["length"] += [float(len(ids)) for ids in kwargs["completion_ids"]]  # EOS included
        return proxy


def _callback(recorder: _Recorder, steps: list[RLStep], started: float, k1: bool) -> Any:
    from transformers import TrainerCallback

    class StepLog(TrainerCallback):
        """One RLStep per logged (= optimizer) step, joining TRL's log with the recorder."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            if "loss" not in logs:  # the end-of-training summary, not a step
                return
            step = int(state.global_step)
            # the samples this step trained on: the latest generation at or before it
            # (with num_iterations > 1 one generation serves several steps)
            done = [k for k in recorder.by_step if k <= step - 1]
            if not done:
                raise RuntimeError(f"RL step {step}: no rewards were recorded for its samples")
            row = recorder.by_step[max(done)]
            length = statistics.fmean(row["length"])  # as TRL's completion mask counts tokens
            # RLOO logs KL when it samples: a step reusing samples keeps their KL
            kl_tok = float(logs.get("kl") or 0.0) if "kl" in logs else steps[-1].kl_per_token
            steps.append(
                RLStep(
                    step=step,
                    kl=kl_tok * length,
                    proxy=statistics.fmean(row["proxy"]),
                    gold=statistics.fmean(row["gold"]),
                    kl_per_token=kl_tok,
                    proxy_std=statistics.pstdev(row["proxy"]),
                    gold_std=statistics.pstdev(row["gold"]),
                    completion_length=length,
                    n_samples=len(row["proxy"]),
                    loss=None if logs.get("loss") is None else float(logs["loss"]),
                    kl_logratio=kl_tok * length if k1 else None,
                    seconds=time.perf_counter() - started,
                )
            )

    return StepLog()


def _trainer_classes(name: str) -> tuple[Any, Any]:
    if name == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        return GRPOTrainer, GRPOConfig
    from trl import RLOOConfig, RLOOTrainer

    return RLOOTrainer, RLOOConfig


def run_policy_rl(
    policy: str,
    prompts: Sequence[str],
    proxy: RewardFn,
    gold: RewardFn,
    cfg: RLParams | None = None,
    out_dir: Path | None = None,
    *,
    store: Any = None,
) -> list[RLStep]:
    """Optimise ``policy`` against ``proxy`` for ``cfg.steps`` steps; one RLStep per step.

    ``policy``: a registered decoder (``smollm2-135m``) or a local HF directory.
    ``prompts``: raw prompt texts, cycled in a seeded order, ``cfg.batch_size`` per
    step, ``cfg.num_generations`` completions each. ``proxy`` and ``gold`` take
    (prompts, completions) and return one reward each; only the proxy trains.
    ``out_dir``: where TRL writes (a temporary directory if None); the steps are
    written to ``out_dir/steps.jsonl``. ``store``: where embedded models are converted.
    """
    cfg = cfg if cfg is not None else RLParams()
    if not isinstance(cfg, RLParams):
        raise ConfigError(f"run_policy_rl: cfg must be RLParams, got {type(cfg).__name__}")
    texts = check_prompts(prompts)
    if not callable(proxy) or not callable(gold):
        raise ConfigError("run_policy_rl: proxy and gold must be callables (prompts, completions)")
    if cfg.save_policy and out_dir is None:
        raise ConfigError("run_policy_rl: save_policy needs an out_dir to write the policy to")
    with tempfile.TemporaryDirectory(prefix="sandwich-rl-") as tmp:
        work = Path(out_dir) if out_dir is not None else Path(tmp)
        with torch_threads(cfg.num_threads), offline():
            steps = _train(policy, texts, proxy, gold, cfg, work, store)
    if out_dir is not None:
        write_steps(Path(out_dir) / "steps.jsonl", steps)
    return steps


def _train(
    policy_name: str,
    prompts: list[str],
    proxy: RewardFn,
    gold: RewardFn,
    cfg: RLParams,
    work: Path,
    store: Any,
) -> list[RLStep]:
    from datasets import Dataset

    Trainer, Config = _trainer_classes(cfg.trainer)
    policy = load_policy(policy_name, cfg, store)
    n = cfg.batch_size * cfg.steps  # every step gets batch_size prompts, cycled from the list
    rows = [prompts[i % len(prompts)] for i in range(n)]
    data = Dataset.from_dict({"prompt": [policy.render(p) for p in rows], "raw_prompt": rows})
    args = Config(
        output_dir=str(work),
        learning_rate=cfg.lr,
        max_steps=cfg.steps,
        per_device_train_batch_size=cfg.batch_size * cfg.num_generations,
        gradient_accumulation_steps=1,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_k=0,
        top_p=1.0,
        beta=cfg.beta,
        num_iterations=cfg.num_iterations,
        shuffle_dataset=True,
        **trainer_device_args(cfg, policy.model),
    )
    recorder = _Recorder(proxy, gold)
    steps: list[RLStep] = []
    trainer = Trainer(
        model=policy.model,
        reward_funcs=[recorder],
        args=args,
        train_dataset=data,
        processing_class=policy.tokenizer,
        peft_config=lora_config(policy.model, cfg),
        callbacks=[_callback(recorder, steps, time.perf_counter(), cfg.trainer == "rloo")],
    )
    quiet(trainer)
    trainer.train()
    if cfg.save_policy:
        trainer.save_model(str(work / "policy"))
    if len(steps) != cfg.steps:
        raise RuntimeError(f"RL run logged {len(steps)} steps, expected {cfg.steps}")
    return steps
