"""``protocol``: a protocol's judge verdicts as supervisor labels (registered lazily in
:data:`sandwich.supervision.SUPERVISORS`, so listing supervisors imports no protocol code).

``weak: [{name: protocol, params: {protocol: debate, judge: smollm2-135m,
assistant: gemma3-270m, rounds: 1}}]`` makes the judge's P(statement true)
(= P(choices[0]), order-averaged; see :mod:`sandwich.tasks.choices`) on B the
student's training labels and on T the "weak" term of PGR.

- ``fit`` on A learns nothing: it records the seed (``random_state``), which
  fixes the consultancy assignment and any sampling. The judge never sees a
  gold label.
- An item whose verdict is unparsed in both orders gets 0.5 (no information),
  counted in ``n_unparsed_``.
- Items that failed after the backend's retries raise an error naming them;
  run again to retry (answers already generated come from the response cache).
- The transcripts of the last call are kept in ``transcripts_``.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Literal, Self

import numpy as np

from sandwich.errors import ConfigError, SandwichError
from sandwich.protocols.base import GenParams
from sandwich.protocols.generators import build_generator, check_spec, normalise_spec
from sandwich.protocols.judge import Judge
from sandwich.protocols.registry import PROTOCOLS
from sandwich.protocols.runner import run_protocol
from sandwich.supervision.base import FeatureSource, Supervisor
from sandwich.tasks.item import Item


class ProtocolSupervisor(Supervisor):
    """``protocol``: a registered protocol; ``judge``: the judge's model (a name or a
    generator mapping); ``assistant``: the assistant model (``debaters``, its old name,
    is still read); ``judge_method``: auto | text; ``max_new_tokens``, ``temperature``: assistant
    generation; ``batch_size``: items per backend call; any other parameter
    (``rounds``, ``mode``) goes to the protocol."""

    def __init__(
        self,
        protocol: str = "debate",
        judge: str | dict[str, Any] | None = None,
        assistant: str | dict[str, Any] | None = None,
        debaters: str | dict[str, Any] | None = None,
        judge_method: Literal["auto", "text"] = "auto",
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        batch_size: int = 16,
        **protocol_params: Any,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ConfigError(f"protocol: {PROTOCOLS.unknown_message(protocol)}")
        if assistant is not None and debaters is not None:
            raise ConfigError("protocol: give assistant or its old name debaters, not both")
        if judge is None:
            raise ConfigError("protocol: judge is required (a model name or generator mapping)")
        self.protocol = protocol
        self.protocol_params = dict(protocol_params)
        allowed = [
            n
            for n in inspect.signature(PROTOCOLS.entry(protocol).factory).parameters
            if n != "self"
        ]
        unknown = sorted(set(protocol_params) - set(allowed))
        if unknown:
            raise ConfigError(
                f"unknown parameter(s) {', '.join(unknown)} for protocol {protocol!r} "
                f"(its parameters: {', '.join(allowed) or 'none'})"
            )
        self._protocol = PROTOCOLS.build(protocol, **protocol_params)
        self.judge = normalise_spec(judge)
        assistant = assistant if assistant is not None else debaters
        self.assistant = None if assistant is None else normalise_spec(assistant)
        if self._protocol.uses_assistant and self.assistant is None:
            raise ConfigError(f"protocol {protocol!r} needs assistant: a model")
        problems = [f"judge.{p}" for p in check_spec(self.judge)]
        if self.assistant is not None:
            problems += [f"assistant.{p}" for p in check_spec(self.assistant)]
        if problems:
            raise ConfigError("protocol: " + "; ".join(problems))
        if judge_method not in ("auto", "text"):
            raise ConfigError(f"protocol: judge_method must be auto or text, got {judge_method!r}")
        self.judge_method = judge_method
        try:
            self.generation = GenParams(max_new_tokens=max_new_tokens, temperature=temperature)
        except ValueError as exc:
            raise ConfigError(f"protocol: {exc}") from None
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(
                f"protocol: batch_size must be a positive integer, got {batch_size!r}"
            )
        self.batch_size = batch_size

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        self.random_state_ = int(random_state)
        return self

    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        if not hasattr(self, "random_state_"):
            raise RuntimeError("ProtocolSupervisor.predict_proba called before fit")
        judge = Judge(build_generator(self.judge), self.judge_method)
        assistant = build_generator(self.assistant) if self.assistant is not None else None
        records = run_protocol(
            self._protocol,
            items,
            judge,
            assistant,
            self.generation,
            self.random_state_,
            self.batch_size,
        )
        self.transcripts_ = records
        failed = [r for r in records if r.status == "failed"]
        if failed:
            shown = "; ".join(f"{r.item_id}: {r.reason}" for r in failed[:3])
            raise SandwichError(
                f"protocol supervisor: {len(failed)} of {len(records)} items failed ({shown}); "
                "run again to retry them (finished answers come from the response cache)"
            )
        self.n_unparsed_ = sum(r.status == "unparsed" for r in records)
        return np.array(
            [0.5 if r.p_choice0 is None else r.p_choice0 for r in records], dtype=np.float64
        )
