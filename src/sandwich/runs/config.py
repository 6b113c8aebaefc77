"""The run config: one schema for every experiment kind (pydantic).

Shared fields: ``name``, ``tasks`` (``task:`` is shorthand for a list of
one), ``seeds``, ``split``, ``features``, ``bootstrap``. Which kinds run comes
from the kind registry (:data:`sandwich.results.kinds.KINDS`): the two first
kinds have flat fields (a kind runs when any of its ``fields`` is given):
``weak`` + ``strong`` (+ ``elicitors``) make a w2s experiment, ``protocols`` (+
``judge``, ``assistant``, ...) a protocol evaluation; every later kind has one
section ``<kind name>: {...}`` validated by its schema's ``section`` model and
runs when the section is present. A config may hold several kinds. A bad field
fails at load time with its path (``elicitors.1.name``) and the allowed
values; unknown task, model, supervisor, elicitor or protocol names fail with
the nearest registered names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from sandwich.config import (
    Strict,
    as_list,
    check_unique,
    read_yaml,
    validate_document,
)
from sandwich.errors import ConfigError
from sandwich.models.names import check_model_name
from sandwich.protocols.base import GenParams
from sandwich.protocols.generators import check_spec, normalise_spec
from sandwich.protocols.naive import ASSISTANT_ALONE
from sandwich.registry import param_problems
from sandwich.results.kinds import KINDS
from sandwich.tasks import SplitSizes
from sandwich.tasks.config import TaskConfig

# the supervisor a bare model name in ``weak`` stands for (the one place it is named)
DEFAULT_MODEL_SUPERVISOR = "weak-model"
# fields that choose how a run is carried out, not what it computes: left out of
# ``RunConfig.identity()``, so they never change the run id or results.json
# (config.yaml records them)
RUNTIME_FIELDS: frozenset[str] = frozenset({"executor", "tracking"})
# the classes of cells an executor schedules differently (``executor.resources`` keys)
STAGE_CLASSES = ("features", "probe", "finetune", "generation")


class SupervisorConfig(Strict):
    """A supervisor on the sandwich's weak side: a model (``weak-model``), ``nonexpert``,
    ``gold``, ``human``, ``protocol``, ..."""

    name: str = Field(description="registered supervisor name (see `sandwich supervisors`)")
    model: str | None = Field(None, description="a model name, passed as the `model` param")
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = Field(None, description="display name in results (default: derived)")

    @property
    def display(self) -> str:
        return self.label or self.model or self.name

    @property
    def build_params(self) -> dict[str, Any]:
        """The supervisor's parameters: ``params`` plus ``model`` when given."""
        return {**self.params, **({"model": self.model} if self.model else {})}


class NamedConfig(Strict):
    """A registered component (an elicitor, a protocol) by name, with its parameters."""

    name: str = Field(description="registered name (see `sandwich elicitors`, `... protocols`)")
    params: dict[str, Any] = Field(default_factory=dict, description="its parameters")
    label: str | None = Field(None, description="display name (default: name)")

    @property
    def display(self) -> str:
        return self.label or self.name


class ElicitorConfig(NamedConfig):
    control: str | None = Field(
        None,
        description="label of the entry this one is compared with, paired (default: the "
        "elicitor's declared control, added if missing; see sandwich.runs.w2s.controls)",
    )


class FeatureConfig(Strict):
    """Which hidden states every model contributes.

    ``layer``: a float in (0, 1] is a fraction of the model's depth (so one
    setting fits a ladder of models of different depths: 0.5 = the middle
    block, 1.0 = the last); an int is a block index (negative from the end).
    """

    layer: float | int = Field(0.5, description="depth fraction in (0, 1] or a block index")
    pooling: Literal["auto", "last", "mean"] = Field(
        "auto", description="auto = mean for encoders, last token for decoders"
    )
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="auto = bfloat16 where measured faster and close enough, else float32"
    )
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description="items per forward pass; auto = 32 in float32, 128 in bfloat16"
    )
    max_length: int = Field(128, ge=8)

    @field_validator("layer")
    @classmethod
    def _layer_range(cls, v: float | int) -> float | int:
        if isinstance(v, float) and not 0.0 < v <= 1.0:
            raise ValueError("a float layer is a depth fraction and must be in (0, 1]")
        return v


class BootstrapConfig(Strict):
    n_boot: int = Field(1000, ge=100, description="bootstrap replicates for every CI")
    min_test: int = Field(200, ge=1, description="fewer test items than this: a warning")


class ProtocolConfig(NamedConfig):
    """One protocol of a protocol evaluation (naive, consultancy, debate, critique)."""


class JudgeConfig(Strict):
    method: Literal["auto", "text"] = Field(
        "auto", description="auto: answer-token log-probs where the backend has them; text: parse"
    )
    max_new_tokens: int = Field(16, ge=1, le=512, description="reply length in text mode")


class TrackingConfig(Strict):
    """The experiment tracker a run logs to (docs/tracking.md); ``none`` logs nothing."""

    name: Literal["none", "mlflow", "wandb"] = Field(
        "none", description="none, mlflow or wandb (the `tracking` extra)"
    )
    uri: str | None = Field(
        None, description="mlflow: tracking URI (default sqlite:///<runs>/mlflow.db)"
    )
    experiment: str | None = Field(
        None, description="mlflow experiment / wandb project (default: the config's name)"
    )
    mode: Literal["online", "offline"] | None = Field(
        None, description="wandb: online or offline (default: wandb's own, e.g. WANDB_MODE)"
    )
    entity: str | None = Field(None, description="wandb: the team or user (default: yours)")

    @model_validator(mode="after")
    def _fields_of_its_tracker(self) -> TrackingConfig:
        only = {"uri": "mlflow", "mode": "wandb", "entity": "wandb"}
        wrong = [f for f, t in only.items() if getattr(self, f) is not None and self.name != t]
        if wrong:
            raise ValueError(
                "; ".join(f"{f} is a setting of {only[f]}, not of {self.name!r}" for f in wrong)
            )
        return self


class ExecutorConfig(Strict):
    """Where cells run: ``local`` (this process, in order) or ``ray`` (a Ray cluster).

    ``resources`` overrides what a task of each stage class asks Ray for
    (``features``: a kind's ``prepare``, the feature extractions; ``probe``: cells
    whose elicitor reads features; ``finetune``: cells whose elicitor trains the
    weights; ``generation``: protocol cells), e.g. ``{finetune: {GPU: 1, CPU: 4}}``;
    by default every task asks for one CPU, and ``use_gpu: true`` adds one GPU to
    feature, fine-tuning and generation tasks. See docs/scale.md.
    """

    name: Literal["local", "ray"] = Field("local", description="local or ray")
    address: str | None = Field(
        None,
        description="ray: 'auto' (the cluster this host belongs to), 'host:6379' (a head's "
        "GCS), 'ray://host:10001' (Ray Client), or null (start Ray on this machine)",
    )
    resources: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="per stage class: the Ray resources of one cell"
    )
    use_gpu: bool = Field(
        False, description="ray: one GPU per feature extraction, fine-tuning or generation task"
    )
    max_retries: int = Field(
        3, ge=0, description="ray: reruns of a cell whose worker died (never of an error)"
    )
    runtime_env: dict[str, Any] = Field(
        default_factory=dict, description="ray: the job's runtime_env (env_vars, pip, ...)"
    )

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is None or v == "auto":
            return v
        host, _, port = v.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"give 'auto', 'host:port', 'ray://host:port' or null, got {v!r}")
        return v

    @field_validator("resources")
    @classmethod
    def _resources(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        problems = [
            f"{k!r} is not a stage class (allowed: {', '.join(STAGE_CLASSES)})"
            for k in v
            if k not in STAGE_CLASSES
        ]
        problems += [
            f"{k}.{r}: must be >= 0, got {n}"
            for k, res in v.items()
            for r, n in res.items()
            if n < 0
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @model_validator(mode="after")
    def _local_has_no_cluster(self) -> ExecutorConfig:
        if self.name == "local" and (self.address or self.resources or self.use_gpu):
            raise ValueError("address, resources and use_gpu are for name: ray")
        return self


class RunConfig(Strict):
    """One experiment: the w2s grid tasks x weak x strong x elicitors x seeds, and/or
    every protocol x seed on every task's items, and/or any registered kind's section.

    A section ``<kind>: {...}`` is held as an extra field (validated as the kind's
    ``section`` model, read with :meth:`section`); any other unknown key fails.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$", description="used in the run id")
    tasks: list[TaskConfig] = Field(
        default_factory=list, description="required unless every kind run names its own data"
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)  # protocols: [0]
    split: SplitSizes = SplitSizes()
    features: FeatureConfig = FeatureConfig()
    bootstrap: BootstrapConfig = BootstrapConfig()
    # w2s: weak (any supervisor: the sandwich's weak side) -> strong, by each elicitor
    weak: list[SupervisorConfig] = Field(default_factory=list)
    strong: list[str] = Field(default_factory=list, description="strong model names")
    elicitors: list[ElicitorConfig] = Field(default_factory=list, description="default: probe")
    # protocol: a judge, alone or assisted by an assistant model
    protocols: list[ProtocolConfig] = Field(default_factory=list)
    judge: dict[str, Any] | None = Field(None, description="the judge's generator (see docs)")
    assistant: dict[str, Any] | None = Field(
        None, description="debaters / consultant / answerer and critic (needed unless only naive)"
    )
    judging: JudgeConfig = JudgeConfig()
    generation: GenParams = GenParams()
    max_items: int | None = Field(None, ge=1, description="judge each task's first items only")
    batch_size: int = Field(16, ge=1, description="items per backend call")
    transcripts_in_report: int = Field(2, ge=0, description="rendered per protocol")
    # runtime (RUNTIME_FIELDS): not part of the run id
    tracking: TrackingConfig = Field(
        TrackingConfig(), description="experiment tracker: none, mlflow or wandb"
    )
    executor: ExecutorConfig = ExecutorConfig()

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        _check_keys(data)
        if "task" in data:
            if "tasks" in data:
                raise ValueError("give task (one) or tasks (a list), not both")
            data["tasks"] = as_list(data.pop("task"))
        if data.get("weak") or data.get("strong"):
            data.setdefault("elicitors", ["probe"])
        elif data.get("protocols"):
            data.setdefault("seeds", [0])  # generation is costly: one seed unless asked
        return data

    @field_validator("executor", mode="before")
    @classmethod
    def _executor_shorthand(cls, v: Any) -> Any:
        """``executor: ray`` stands for ``{name: ray}``."""
        return {"name": v} if isinstance(v, str) else v

    @field_validator("tasks", "elicitors", "protocols", mode="before")
    @classmethod
    def _name_shorthand(cls, v: Any) -> Any:
        """A bare string stands for ``{name: ...}``, one entry for a list of one."""
        return [{"name": x} if isinstance(x, str) else x for x in as_list(v)]

    @field_validator("split", mode="wrap")
    @classmethod
    def _split(cls, v: Any, handler: Any) -> Any:
        try:
            return handler(v)
        except ConfigError as exc:  # SplitSizes checks its sum itself
            raise ValueError(str(exc)) from None

    @field_validator("tracking", mode="before")
    @classmethod
    def _tracking_shorthand(cls, v: Any) -> Any:
        """``tracking: mlflow`` stands for ``{name: mlflow}``; null for none."""
        return {"name": "none"} if v is None else {"name": v} if isinstance(v, str) else v

    @field_validator("weak", mode="before")
    @classmethod
    def _weak_shorthand(cls, v: Any) -> Any:
        from sandwich.supervision import SUPERVISORS

        out = []
        for w in as_list(v):
            if isinstance(w, str):
                # a bare string is a supervisor name if registered, else a model
                w = (
                    {"name": w}
                    if w in SUPERVISORS
                    else {"name": DEFAULT_MODEL_SUPERVISOR, "model": w}
                )
            out.append(w)
        return out

    @field_validator("elicitors", mode="after")
    @classmethod
    def _add_controls(cls, v: list[ElicitorConfig]) -> list[ElicitorConfig]:
        from sandwich.runs.w2s.controls import with_controls

        return with_controls(v)

    @field_validator("strong", mode="before")
    @classmethod
    def _strong_list(cls, v: Any) -> Any:
        return as_list(v)

    @field_validator("judge", "assistant", mode="before")
    @classmethod
    def _spec(cls, v: Any) -> Any:
        return None if v is None else normalise_spec(v)

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        problems: list[str] = []
        for i, t in enumerate(self.tasks):
            problems += t.problems(f"tasks.{i}")
        check_unique("tasks", [t.label for t in self.tasks], problems)
        check_unique("seeds", [str(s) for s in self.seeds], problems)
        problems += self._validate_sections()
        if not self.tasks and (readers := [k for k in self.kinds if KINDS.schema(k).tasks]):
            problems.append(f"tasks: Field required (at least one task) for {', '.join(readers)}")
        if not self.kinds:
            sections = "".join(f", or a {k}: section" for k in KINDS.sections())
            problems.append(
                f"nothing to run: give weak and strong (w2s) and/or protocols{sections}"
            )
        if "w2s" in self.kinds:
            problems += _w2s_problems(self)
        if "protocol" in self.kinds:
            problems += _protocol_problems(self)
        for name in self.kinds:  # a kind's cross-field checks, once its section is valid
            schema = KINDS.schema(name) if name in KINDS.sections() else None
            if schema and schema.check and isinstance(self.section(name), schema.section or ()):
                problems += schema.check(self, self.section(name))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _validate_sections(self) -> list[str]:
        """Each kind section as its kind's ``section`` model (kept in place of the raw data);
        the problems, each starting with its path (``<kind>.<field>``)."""
        problems: list[str] = []
        extra = self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}
        for name, raw in extra.items():
            model = KINDS.schema(name).section
            if model is None or isinstance(raw, model):
                continue
            try:
                extra[name] = model.model_validate({} if raw is None else raw)
            except ValidationError as exc:
                problems += [_section_problem(name, e, list(model.model_fields))
                             for e in exc.errors()]  # fmt: skip
        return problems

    def section(self, kind: str) -> Any:
        """The validated section of ``kind`` (its schema's ``section`` model)."""
        extra = self.__pydantic_extra__ or {}
        if kind not in extra:
            raise KeyError(f"this config has no {kind}: section")
        return extra[kind]

    @property
    def kinds(self) -> list[str]:
        """The experiment kinds this config runs, in registration order: a kind with flat
        fields when any of them differs from its default, any other when its section is
        present."""
        fields = type(self).model_fields
        given = {f for f, info in fields.items() if getattr(self, f) != info.get_default(
            call_default_factory=True)}  # fmt: skip
        extra = self.__pydantic_extra__ or {}
        return [s.name for s in KINDS if (given & set(s.fields) if s.fields else s.name in extra)]

    def document(self) -> dict[str, Any]:
        """The config as JSON data, without the fields of kinds it does not run: what
        ``config.yaml`` and results.json hold and what the run id hashes."""
        idle = {f for s in KINDS if s.name not in self.kinds for f in s.fields}
        return self.model_dump(mode="json", exclude=idle)

    def identity(self) -> dict[str, Any]:
        """The document without :data:`RUNTIME_FIELDS`: what the run computes, whichever
        executor runs or tracker logs it. The run id hashes it and results.json records it."""
        doc = {k: v for k, v in self.document().items() if k not in RUNTIME_FIELDS}
        features = doc.get("features")
        if isinstance(features, dict) and features.get("batch_size") == "auto":
            # ``auto`` (the dtype's batch) replaced the fixed default 32 after run ids were
            # pinned; it hashes as 32 so existing runs keep their directories. The batch size
            # is in no store key either: features agree within rounding at any batch size.
            doc["features"] = {**features, "batch_size": 32}
        return doc

    def with_executor(self, name: str) -> RunConfig:
        """This config run by executor ``name`` (the CLI's ``--executor``): its other
        executor settings are kept when the name is the same, else dropped."""
        if name == self.executor.name:
            return self
        return self.model_copy(update={"executor": ExecutorConfig.model_validate({"name": name})})


def _section_problem(kind: str, err: Any, fields: list[str]) -> str:
    """One error of a kind's section as ``<kind>.<path>: <message>``."""
    path = ".".join([kind, *(str(p) for p in err["loc"])])
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown field (allowed: {', '.join(fields)})"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "literal_error" and "expected" in err.get("ctx", {}):
        msg = f"{msg} (allowed: {err['ctx']['expected']})"
    return f"{path}: {msg}"


def _check_keys(data: dict[str, Any]) -> None:
    """Every key is a field, ``task``, or the section of a registered kind."""
    fields = set(RunConfig.model_fields) | {"task"}
    sections = KINDS.sections()
    if clash := sorted(fields & set(sections)):
        raise ValueError(f"experiment kinds named like a config field: {', '.join(clash)}")
    unknown = [k for k in data if k not in fields and k not in sections]
    if unknown:
        allowed = ", ".join([*RunConfig.model_fields, "task"])
        kinds = f"; sections of kinds: {', '.join(sections)}" if sections else ""
        raise ValueError("\n".join(f"{k}: unknown field (allowed: {allowed}{kinds})"
                                    for k in unknown))  # fmt: skip


def _w2s_problems(config: RunConfig) -> list[str]:
    from sandwich.elicit import ELICITORS
    from sandwich.runs.w2s.controls import control_problems
    from sandwich.supervision import SUPERVISORS

    problems: list[str] = []
    for field in ("weak", "strong"):
        if not getattr(config, field):
            problems.append(f"{field}: required for a w2s experiment (weak and strong)")
    for i, w in enumerate(config.weak):
        known = w.name in SUPERVISORS
        if known and w.model is not None and (msg := check_model_name(w.model)) is not None:
            problems.append(f"weak.{i}.model: {msg}")
        else:
            problems += param_problems(f"weak.{i}", SUPERVISORS, w.name, w.build_params)
    for i, s in enumerate(config.strong):
        if (msg := check_model_name(s)) is not None:
            problems.append(f"strong.{i}: {msg}")
    for i, e in enumerate(config.elicitors):
        problems += param_problems(f"elicitors.{i}", ELICITORS, e.name, e.params)
        chain = e.params.get("chain") if e.name in ELICITORS else None
        for j, m in enumerate(chain if isinstance(chain, list) else []):
            if isinstance(m, str) and (msg := check_model_name(m)) is not None:
                problems.append(f"elicitors.{i}.params.chain.{j}: {msg}")
    check_unique("weak", [w.display for w in config.weak], problems)
    check_unique("strong", list(config.strong), problems)
    check_unique("elicitors", [e.display for e in config.elicitors], problems)
    return problems + control_problems(config.elicitors)


def _protocol_problems(config: RunConfig) -> list[str]:
    from sandwich.protocols.registry import PROTOCOLS

    problems = [] if config.protocols else ["protocols: required with judge, assistant, ..."]
    if config.judge is None:
        problems.append("judge: required with protocols (a model name or a generator mapping)")
    else:
        problems += [f"judge.{p}" for p in check_spec(config.judge)]
    if config.assistant is not None:
        problems += [f"assistant.{p}" for p in check_spec(config.assistant)]
    for i, p in enumerate(config.protocols):
        problems += param_problems(f"protocols.{i}", PROTOCOLS, p.name, p.params)
        if p.name not in PROTOCOLS:
            continue
        if PROTOCOLS.build(p.name).uses_assistant and config.assistant is None:
            problems.append(f"protocols.{i}: {p.name!r} needs an assistant model (assistant:)")
        if p.display == ASSISTANT_ALONE:
            problems.append(
                f"protocols.{i}: {ASSISTANT_ALONE!r} is the reserved name of the "
                "assistant's own accuracy (give another label)"
            )
    check_unique("protocols", [p.display for p in config.protocols], problems)
    return problems


def parse_config(data: Any, source: str = "<config>") -> RunConfig:
    """Validate a config dict; raise ConfigError naming every bad field."""
    return validate_document(RunConfig, data, source)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML config file."""
    return parse_config(read_yaml(path), str(path))
