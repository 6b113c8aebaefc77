"""The policy being optimised: loading it, its adapters and precision, prompts, and KL.

The policy is a registry name (``smollm2-135m``: its converted HF directory comes
from sandwich's model registry, never from importing the model's package) or a
local Hugging Face directory. It is loaded as a causal LM in float32; bf16 is
used only as autocast where sandwich's training measurement says so
(:func:`mixed_precision`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sandwich.elicit.finetune.elicitor import torch_threads as torch_threads
from sandwich.errors import ConfigError
from sandwich.rewards.rl.params import PolicyParams

RewardFn = Callable[[Sequence[str], Sequence[str]], list[float]]
"""(prompts, completions) -> one reward per completion (the prompt is the raw prompt text)."""


@dataclass
class Policy:
    """A loaded policy: the causal LM (float32), its tokenizer, directory and prompt format."""

    name: str
    directory: Path
    model: Any
    tokenizer: Any
    prompt_format: Literal["chat", "plain"]

    def render(self, prompt: str) -> Any:
        """A prompt as TRL takes it: a one-message conversation (chat) or the text (plain)."""
        if self.prompt_format == "chat":
            return [{"role": "user", "content": prompt}]
        return prompt

    def prompt_text(self, prompt: str) -> str:
        """The exact text the model continues (the chat template applied, or the prompt)."""
        if self.prompt_format == "chat":
            text = self.tokenizer.apply_chat_template(
                self.render(prompt), tokenize=False, add_generation_prompt=True
            )
            return str(text)
        return prompt


def policy_directory(policy: str, store: Any = None) -> tuple[str, Path]:
    """(name, local HF directory) of a registered decoder or a local directory."""
    from sandwich.models import load_model
    from sandwich.models.hf import HFModel

    backbone = load_model(policy, store=store)
    if not isinstance(backbone, HFModel):
        raise ConfigError(
            f"policy {policy!r} is a {type(backbone).__name__}, not a transformers model; "
            "use a decoder such as smollm2-135m or a local Hugging Face directory"
        )
    backbone.progress = False
    if backbone.kind != "decoder":
        raise ConfigError(f"policy {policy!r} is an encoder; RL needs a decoder (causal LM)")
    return backbone.name, backbone.directory


def load_policy(policy: str, params: PolicyParams, store: Any = None) -> Policy:
    """The policy as a float32 causal LM with a left-padding tokenizer (TRL generates with it)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sandwich.models.generation.prompt import resolve_format
    from sandwich.models.hf import quiet_weight_loading

    name, directory = policy_directory(policy, store)
    tok = AutoTokenizer.from_pretrained(directory, padding_side="left")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    with quiet_weight_loading():
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    fmt = resolve_format(params.prompt_format, name, tok)
    return Policy(name, directory, model, tok, fmt)


def lora_config(model: Any, params: PolicyParams) -> Any:
    """peft's LoraConfig for ``model`` (causal LM), or None when training every weight."""
    if not params.lora:
        return None
    from peft import LoraConfig
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as table

    targets: Any = params.lora_targets
    if not targets:
        found = table.get(getattr(model.config, "model_type", "") or "")
        targets = list(found) if isinstance(found, list) else "all-linear"
    return LoraConfig(
        r=params.lora_r,
        lora_alpha=params.lora_alpha,
        lora_dropout=0.0,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )


def mixed_precision(params: PolicyParams, hidden_size: int | None = None) -> bool:
    """True for bf16 autocast: asked for, or ``auto`` and a GPU with bf16, or ``auto`` on a
    CPU where sandwich's training measurement found bf16 faster and close enough."""
    import torch

    if params.mixed_precision != "auto":
        return params.mixed_precision == "bf16"
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    from sandwich.models.precision import choose

    return choose("training", hidden_size=hidden_size).dtype == "bfloat16"


def trainer_device_args(params: PolicyParams, model: Any) -> dict[str, Any]:
    """The TrainingArguments every run shares: device, precision, no network, no checkpoints."""
    import torch

    hidden = getattr(model.config.get_text_config(), "hidden_size", None)
    return {
        "use_cpu": not torch.cuda.is_available(),
        "bf16": mixed_precision(params, hidden),
        "fp16": False,
        "report_to": "none",
        "push_to_hub": False,
        "save_strategy": "no",
        "logging_steps": 1,
        "lr_scheduler_type": "constant",
        "seed": params.seed,
        "data_seed": params.seed,
        "disable_tqdm": True,
        "gradient_checkpointing": False,
        "dataloader_num_workers": 0,
    }


def quiet(trainer: Any) -> None:
    """No log dicts printed to stdout (the steps are returned and written instead)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """No network while training: the hub is set offline (restored afterwards)."""
    keys = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    before = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, "1"))
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_prompts(prompts: Sequence[str], what: str = "prompts") -> list[str]:
    """``prompts`` as a list; ConfigError naming the first bad one."""
    if isinstance(prompts, str):
        raise ConfigError(f"{what}: a sequence of prompt strings, got one string")
    out = list(prompts)
    if not out:
        raise ConfigError(f"{what}: empty; give at least one prompt")
    for i, p in enumerate(out):
        if not isinstance(p, str) or not p.strip():
            raise ConfigError(f"{what}[{i}]: a non-empty string, got {p!r}")
    return out


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a string, or the content of a conversation's messages."""
    if isinstance(completion, str):
        return completion
    return "".join(str(m.get("content", "")) for m in completion)


def call_reward(fn: RewardFn, name: str, prompts: list[str], completions: list[str]) -> list[float]:
    """``fn``'s rewards as floats, one per completion; ValueError naming ``name`` otherwise."""
    import math

    out = fn(tuple(prompts), tuple(completions))  # tuples: a reward cannot alter the batch
    values = [float(v) for v in out]
    if len(values) != len(completions):
        raise ValueError(
            f"{name} reward returned {len(values)} values for {len(completions)} completions"
        )
    bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"{name} reward is not finite for completion {bad[0]}: {values[bad[0]]}")
    return values


# -- sampling and KL to the initial policy (DPO's evaluation) --------------------


@dataclass(frozen=True)
class Samples:
    """Completions of the eval prompts and their KL to the initial policy."""

    prompts: list[str]
    completions: list[str]
    kl_k3: list[float]  # per completion: sum over tokens of exp(d) - d - 1, d = ref - policy
    kl_logratio: list[float]  # per completion: sum over tokens of policy - ref (k1)
    lengths: list[int]


def sample_with_kl(
    policy: Policy,
    model: Any,
    prompts: Sequence[str],
    n: int,
    params: PolicyParams,
    reference: Callable[[], contextlib.AbstractContextManager[Any]],
    ref_model: Any = None,
    seed: int = 0,
) -> Samples:
    """``n`` sampled completions per prompt from ``model`` at ``params.temperature``, and
    each one's KL to the initial policy, both from log-probs at that temperature.

    The reference log-probs come from ``ref_model`` if given, else from ``model``
    inside ``reference()`` (a LoRA policy with its adapters disabled).
    """
    import torch

    tok = policy.tokenizer
    texts = [policy.prompt_text(p) for p in prompts for _ in range(n)]
    raw = [p for p in prompts for _ in range(n)]
    add_special = policy.prompt_format == "plain"
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=add_special)
    device = next(model.parameters()).device
    ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    was_training = model.training
    model.eval()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=True,
            temperature=params.temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=params.max_new_tokens,
            pad_token_id=tok.pad_token_id,
        )
        new = out[:, ids.shape[1] :]
        eos = _eos_ids(model, tok)
        comp_mask = _completion_mask(new, eos)
        full_mask = torch.cat([mask, comp_mask], dim=1)
        logp = _token_logps(model, out, full_mask, ids.shape[1], params.temperature)
        if ref_model is not None:
            ref = _token_logps(ref_model, out, full_mask, ids.shape[1], params.temperature)
        else:
            with reference():
                ref = _token_logps(model, out, full_mask, ids.shape[1], params.temperature)
    model.train(was_training)
    d = (ref - logp) * comp_mask
    k3 = ((torch.exp(d) - d - 1) * comp_mask).sum(1)
    k1 = (-d).sum(1)
    completions = [
        tok.decode(new[i][comp_mask[i].bool()], skip_special_tokens=True) for i in range(len(new))
    ]
    return Samples(
        raw, completions, k3.tolist(), k1.tolist(), [int(x) for x in comp_mask.sum(1).tolist()]
    )


def _eos_ids(model: Any, tok: Any) -> list[int]:
    eos = model.generation_config.eos_token_id
    ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
    return ids if tok.eos_token_id in ids else [tok.eos_token_id, *ids]


def _completion_mask(new: Any, eos: list[int]) -> Any:
    """1 up to and including the first EOS of each row (as TRL masks completions)."""
    import torch

    is_eos = torch.isin(new, torch.tensor(eos, device=new.device))
    first = torch.full((new.shape[0],), new.shape[1], dtype=torch.long, device=new.device)
    any_eos = is_eos.any(1)
    first[any_eos] = is_eos.int().argmax(1)[any_eos]
    return (torch.arange(new.shape[1], device=new.device)[None, :] <= first[:, None]).long()


def _token_logps(model: Any, seq: Any, mask: Any, prompt_len: int, temperature: float) -> Any:
    """log p(token) of each completion token of ``seq`` under ``model`` at ``temperature``."""
    import torch

    positions = (mask.cumsum(-1) - 1).clamp_min(0)  # left padding: positions as generate had them
    out = model(input_ids=seq, attention_mask=mask, position_ids=positions)
    logits = out.logits[:, prompt_len - 1 : -1].float()
    logp = torch.log_softmax(logits / temperature, dim=-1)
    return logp.gather(-1, seq[:, prompt_len:, None]).squeeze(-1)
