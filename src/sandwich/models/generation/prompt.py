"""Messages -> prompt text for a local model: its chat template, or plain text for base models.

``chat``: the tokenizer's chat template with the generation prompt appended
(SmolLM2-Instruct). ``plain``: the message texts joined by blank lines, roles
dropped, and the model continues right after the last text (base models such
as Gemma 3 270M: write prompts that end where the answer should start, e.g.
"...\\nAnswer:"). ``auto``: plain for the registered base models, else chat
when the tokenizer has a template, else plain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sandwich.errors import ConfigError
from sandwich.models.generation.base import Message

BASE_MODELS = frozenset({"gemma3-270m"})


def resolve_format(
    requested: Literal["auto", "chat", "plain"], model_name: str, tokenizer: Any
) -> Literal["chat", "plain"]:
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if requested == "chat" and not has_template:
        raise ConfigError(
            f"prompt_format 'chat' for model {model_name!r}, but its tokenizer has no chat "
            "template; use prompt_format 'plain' (or 'auto')"
        )
    if requested != "auto":
        return requested
    if model_name in BASE_MODELS or not has_template:
        return "plain"
    return "chat"


def render(messages: Sequence[Message], fmt: Literal["chat", "plain"], tokenizer: Any) -> str:
    if fmt == "plain":
        return "\n\n".join(m.content for m in messages)
    conv = [{"role": m.role, "content": m.content} for m in messages]
    text = tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    return str(text)


def encode(text: str, fmt: Literal["chat", "plain"], tokenizer: Any) -> list[int]:
    """Token ids of a rendered prompt; a chat template already holds its special tokens."""
    ids = tokenizer(text, add_special_tokens=(fmt == "plain"))["input_ids"]
    return list(ids)
