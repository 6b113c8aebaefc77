"""Generation: the one narrow, batched interface every text-generating backend implements.

Messages in, text (plus token log-probs where the backend has them) out.
Backends: ``local`` (any registry model through transformers ``generate``),
``openai`` (any OpenAI-compatible HTTP server), ``fake`` (scripted, for tests).
Protocols (``sandwich.protocols``) only ever talk to a :class:`Generator`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class GenRequest:
    """One generation request. Every field is part of the response-cache key.

    ``temperature == 0`` is greedy decoding. A sampled request (temperature > 0)
    is reproducible only with a ``seed``; without one it is never cached.
    ``logprobs``: also return the log-prob of each generated token.
    """

    messages: tuple[Message, ...]
    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False

    def __post_init__(self) -> None:
        _check_messages(self.messages, "GenRequest")
        problems = []
        if self.max_new_tokens < 1:
            problems.append(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            problems.append(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p}")
        if problems:
            raise ValueError("GenRequest: " + "; ".join(problems))


@dataclass(frozen=True)
class ChoiceRequest:
    """Score fixed continuations: log P(choice | messages) for each choice.

    Used by judges to read P(answer A) vs P(answer B) without parsing text.
    """

    messages: tuple[Message, ...]
    choices: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_messages(self.messages, "ChoiceRequest")
        if len(self.choices) < 1:
            raise ValueError("ChoiceRequest: choices is empty")


def _check_messages(messages: tuple[Message, ...], where: str) -> None:
    for i, m in enumerate(messages):
        if m.role not in ("system", "user", "assistant"):
            raise ValueError(
                f"{where}: messages[{i}].role is {m.role!r}; expected system, user or assistant"
            )


@dataclass(frozen=True)
class GenResult:
    """What a backend returned for one request.

    ``error`` is set (and ``text`` empty) when the backend failed for this
    request after its retries; callers record the reason, they never guess.
    """

    text: str
    token_logprobs: tuple[float, ...] | None = None
    finish_reason: str | None = None
    cached: bool = False
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


class Generator(ABC):
    """A text-generating backend. ``describe()`` names it fully (for cache keys and provenance)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Backend kind, model identity (name + fingerprint or endpoint model id), settings."""

    @abstractmethod
    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        """One result per request, in order. Batches internally as it sees fit."""

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float] | None]:
        """log P(choice | messages) per choice; None where the backend cannot score."""
        return [None for _ in requests]
