"""Settings of RL (GRPO / RLOO) and DPO against a proxy reward: typed, validated, frozen.

The CPU defaults make a short run on the embedded smollm2-135m that shows the
machinery works; docs/rewards.md ("RL against the proxy") gives paper-like GPU
settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sandwich.config import Strict


class PolicyParams(Strict):
    """What RL and DPO share: the policy's adapters, precision, sampling and seed."""

    lr: float = Field(
        1e-4, gt=0, description="AdamW learning rate (LoRA: 1e-4-ish; full: 1e-6-ish)"
    )
    lora: bool = Field(True, description="train LoRA adapters (peft; base frozen) or every weight")
    lora_r: int = Field(8, ge=1, description="LoRA rank")
    lora_alpha: int = Field(16, ge=1, description="LoRA scale")
    lora_targets: list[str] | None = Field(
        None,
        description="module names to adapt; null: peft's per-architecture table (q_proj/v_proj "
        "for Llama), else every linear layer",
    )
    max_new_tokens: int = Field(16, ge=1, description="tokens per sampled completion")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the policy")
    prompt_format: Literal["auto", "chat", "plain"] = Field(
        "auto",
        description="chat: the tokenizer's chat template around the prompt; plain: the prompt "
        "text as is (base models); auto: as local generation does (sandwich.models.generation)",
    )
    mixed_precision: Literal["auto", "no", "bf16"] = Field(
        "auto",
        description="auto: bf16 autocast on a GPU that has it, on CPU only where sandwich's "
        "training measurement found it faster and close enough (models/precision.py); else fp32",
    )
    num_threads: int | None = Field(
        1,
        ge=1,
        description="torch threads while training (1: no stalls on a shared CPU, "
        "see elicit/finetune); null leaves torch's setting",
    )
    seed: int = Field(0, description="seeds adapters, sampling and data order")
    save_policy: bool = Field(
        False,
        description="write the trained policy (the LoRA adapter, or every weight) and its "
        "tokenizer to out_dir/policy (needs an out_dir)",
    )


class RLParams(PolicyParams):
    """Online RL against the proxy: TRL's GRPO (default) or RLOO trainer."""

    trainer: Literal["grpo", "rloo"] = Field(
        "grpo",
        description="grpo: group-normalised advantages, KL penalty in the loss; rloo: "
        "leave-one-out baseline, KL penalty in the reward (as in Gao et al.'s PPO)",
    )
    steps: int = Field(3, ge=1, description="optimizer steps (one fresh batch of samples each)")
    beta: float = Field(
        0.05,
        gt=0,
        description="KL coefficient; > 0 because the trainer then computes the reference "
        "log-probs the KL log needs (use e.g. 1e-4 for an almost unpenalised run)",
    )
    num_generations: int = Field(4, ge=2, description="completions per prompt (the group)")
    batch_size: int = Field(8, ge=1, description="prompts per step (x num_generations completions)")
    num_iterations: int = Field(1, ge=1, description="optimizer passes over each batch of samples")


class DPOParams(PolicyParams):
    """Offline DPO on proxy-ranked pairs, with gold and KL measured on fresh samples."""

    lr: float = Field(5e-5, gt=0, description="AdamW learning rate")
    epochs: int = Field(1, ge=1, description="passes over the pairs")
    max_steps: int | None = Field(
        None, ge=1, description="stop after this many optimizer steps (null: the epochs)"
    )
    beta: float = Field(0.1, gt=0, description="DPO's temperature on the implicit reward")
    batch_size: int = Field(8, ge=1, description="pairs per optimizer step")
    max_length: int = Field(128, ge=4, description="tokens of prompt + completion per pair")
    eval_every: int = Field(1, ge=1, description="sample the eval prompts every this many steps")
    eval_samples: int = Field(2, ge=1, description="completions per eval prompt at each eval")

    @model_validator(mode="after")
    def _eval_within_run(self) -> DPOParams:
        if self.max_steps is not None and self.eval_every > self.max_steps:
            raise ValueError(
                f"eval_every ({self.eval_every}) > max_steps ({self.max_steps}): "
                "the run would never be evaluated"
            )
        return self
