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

from collections.abc import Sequence
from typing import Any, Literal, Self

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from sandwich.config import Strict
from sandwich.errors import SandwichError
from sandwich.protocols.base import GenParams
from sandwich.protocols.generators import build_generator, check_spec, normalise_spec
from sandwich.protocols.judge import Judge
from sandwich.protocols.registry import PROTOCOLS
from sandwich.protocols.runner import run_protocol
from sandwich.supervision.base import FeatureSource, Supervisor
from sandwich.tasks.item import Item


class ProtocolSupervisor(Supervisor):
    """A protocol's judge as labeller; every other parameter goes to the protocol."""

    class Params(Strict):
        model_config = ConfigDict(
            extra="allow",  # the protocol's own Params (rounds, mode), checked against it
            json_schema_extra={
                "examples": [
                    {
                        "protocol": "debate",
                        "judge": {"backend": "fake"},
                        "assistant": {"backend": "fake"},
                    }
                ]
            },
        )

        protocol: str = Field("debate", description="a registered protocol (`sandwich protocols`)")
        judge: str | dict[str, Any] = Field(
            description="the judge's model: a name (local backend) or a generator mapping"
        )
        assistant: str | dict[str, Any] | None = Field(
            None, description="the assistant model (the consultant, the critic, both debaters)"
        )
        debaters: str | dict[str, Any] | None = Field(
            None, description="the old name of assistant (still read)"
        )
        judge_method: Literal["auto", "text"] = Field(
            "auto", description="auto (answer log-probs where the backend has them) or text"
        )
        max_new_tokens: int = Field(64, ge=1, le=4096, description="assistant tokens per turn")
        temperature: float = Field(
            0.0, ge=0.0, le=2.0, description="assistant sampling; 0 = greedy"
        )
        batch_size: int = Field(16, ge=1, description="items per backend call")

        @model_validator(mode="after")
        def _check(self) -> Self:
            if self.protocol not in PROTOCOLS:
                raise ValueError(f"protocol: {PROTOCOLS.unknown_message(self.protocol)}")
            if self.assistant is not None and self.debaters is not None:
                raise ValueError("assistant: give assistant or its old name debaters, not both")
            extra = self.__pydantic_extra__ or {}
            extra.update(
                PROTOCOLS.resolve_within(self.protocol, dict(extra), f"protocol {self.protocol!r}")
            )
            helper = self.assistant_spec
            if PROTOCOLS.build(self.protocol, **extra).uses_assistant and helper is None:
                raise ValueError(f"assistant: protocol {self.protocol!r} needs an assistant model")
            problems = [f"judge.{p}" for p in check_spec(normalise_spec(self.judge))]
            if helper is not None:
                problems += [f"assistant.{p}" for p in check_spec(helper)]
            if problems:
                raise ValueError("\n".join(problems))
            return self

        @property
        def assistant_spec(self) -> dict[str, Any] | None:
            """The assistant's generator spec (``debaters``, its old name, is still read)."""
            helper = self.assistant if self.assistant is not None else self.debaters
            return None if helper is None else normalise_spec(helper)

    hparams: Params

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._protocol = PROTOCOLS.build(self.hparams.protocol, **self.protocol_params)

    @property
    def assistant(self) -> dict[str, Any] | None:
        return self.hparams.assistant_spec

    @property
    def protocol_params(self) -> dict[str, Any]:
        """The protocol's own parameters (resolved; the fields beyond this class's)."""
        return dict(self.hparams.__pydantic_extra__ or {})

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        self.random_state_ = int(random_state)
        return self

    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        if not hasattr(self, "random_state_"):
            raise RuntimeError("ProtocolSupervisor.predict_proba called before fit")
        hp = self.hparams
        judge = Judge(build_generator(normalise_spec(hp.judge)), hp.judge_method)
        helper = None if self.assistant is None else build_generator(self.assistant)
        gen = GenParams(max_new_tokens=hp.max_new_tokens, temperature=hp.temperature)
        records = run_protocol(
            self._protocol, items, judge, helper, gen, self.random_state_, hp.batch_size
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
