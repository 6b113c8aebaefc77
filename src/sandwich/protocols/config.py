"""The protocol-run config: a judge, an assistant model, protocols, a task, seeds.

Run with ``sandwich protocols run CONFIG``. A bad field fails at load time with
its path (``protocols.1.params``) and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sandwich.config import Strict, read_yaml, validate_document
from sandwich.protocols.base import GenParams
from sandwich.protocols.generators import check_spec, normalise_spec
from sandwich.runs.config import BootstrapConfig
from sandwich.tasks.config import TaskConfig


class ProtocolConfig(Strict):
    name: str = Field(description="registered protocol (naive, consultancy, debate, critique)")
    params: dict[str, Any] = Field(default_factory=dict, description="the protocol's parameters")
    label: str | None = Field(None, description="display name (default: name)")

    @property
    def display(self) -> str:
        return self.label or self.name


class JudgeConfig(Strict):
    method: Literal["auto", "text"] = Field(
        "auto", description="auto: answer-token log-probs where the backend has them; text: parse"
    )
    max_new_tokens: int = Field(16, ge=1, le=512, description="reply length in text mode")


class ProtocolRunConfig(Strict):
    """A protocol evaluation: every protocol x seed on every item of the task."""

    name: str = Field("protocols", pattern=r"^[A-Za-z0-9_.-]+$")
    task: TaskConfig
    judge: dict[str, Any] = Field(description="the judge's generator (a model name or a mapping)")
    assistant: dict[str, Any] | None = Field(
        None, description="the assistant (debaters, consultant, critic); needed unless only naive"
    )
    judging: JudgeConfig = JudgeConfig()
    generation: GenParams = GenParams()
    protocols: list[ProtocolConfig] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    max_items: int | None = Field(
        None, ge=1, description="judge only the task's first max_items items (quick checks)"
    )
    batch_size: int = Field(16, ge=1, description="items per backend call")
    bootstrap: BootstrapConfig = BootstrapConfig()
    transcripts_in_report: int = Field(2, ge=0, description="rendered per protocol")

    @field_validator("task", mode="before")
    @classmethod
    def _task_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("judge", "assistant", mode="before")
    @classmethod
    def _spec(cls, v: Any) -> Any:
        return None if v is None else normalise_spec(v)

    @field_validator("protocols", mode="before")
    @classmethod
    def _protocol_shorthand(cls, v: Any) -> Any:
        v = [v] if isinstance(v, str | dict) else v
        return [{"name": p} if isinstance(p, str) else p for p in v]

    @model_validator(mode="after")
    def _check(self) -> ProtocolRunConfig:
        from sandwich.protocols.registry import PROTOCOLS
        from sandwich.registry import param_problems
        from sandwich.tasks import TASKS

        problems: list[str] = []
        if self.task.name and self.task.name not in TASKS:
            problems.append(f"task.name: {TASKS.unknown_message(self.task.name)}")
        if self.task.path and not Path(self.task.path).is_file():
            problems.append(f"task.path: no such file {self.task.path!r}")
        problems += [f"judge.{p}" for p in check_spec(self.judge)]
        if self.assistant is not None:
            problems += [f"assistant.{p}" for p in check_spec(self.assistant)]
        seen: set[str] = set()
        for i, p in enumerate(self.protocols):
            if p.name not in PROTOCOLS:
                problems.append(f"protocols.{i}.name: {PROTOCOLS.unknown_message(p.name)}")
                continue
            problems += param_problems(f"protocols.{i}.params", PROTOCOLS, p.name, p.params)
            if PROTOCOLS.build(p.name).uses_assistant and self.assistant is None:
                problems.append(f"protocols.{i}: {p.name!r} needs an assistant model (assistant:)")
            if p.display == "assistant-alone":
                problems.append(
                    f"protocols.{i}: 'assistant-alone' is the reserved name of the "
                    "assistant's own accuracy (give another label)"
                )
            if p.display in seen:
                problems.append(f"protocols.{i}: {p.display!r} appears twice (give a label)")
            seen.add(p.display)
        if problems:
            raise ValueError("\n".join(problems))
        return self


def parse_protocol_config(data: Any, source: str = "<config>") -> ProtocolRunConfig:
    return validate_document(ProtocolRunConfig, data, source)


def load_protocol_config(path: str | Path) -> ProtocolRunConfig:
    return parse_protocol_config(read_yaml(path), str(path))
