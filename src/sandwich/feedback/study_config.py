"""The study config: the YAML schema of a human study (pydantic).

A bad field fails at load time with its path (``conditions.1.path``) and the
allowed values. Relative file paths are read relative to the YAML file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from sandwich.config import Strict, read_yaml, validate_document
from sandwich.tasks.config import TaskConfig

ConditionKind = Literal["none", "model-answer", "transcript", "file"]


class ConditionConfig(Strict):
    """One assistance condition: what a rater in it sees next to each item.

    - ``none``: the item alone (the unassisted baseline).
    - ``model-answer``: a model's answer with its explanation, from ``path``
      (JSONL: ``item_id``, ``answer`` true/false, ``explanation``).
    - ``transcript``: a consultancy or debate transcript from the protocols
      layer, from ``path`` (JSONL: ``item_id``, ``transcript``: a list of
      ``{speaker, text}`` turns, optional ``verdict``), or the transcripts
      file a ``sandwich protocols run`` wrote (its turns and quote checks are
      shown, a debate in one reading per rater, see
      :func:`~sandwich.feedback.assistance.reading_index`; the protocol
      judge's verdict is not).
    - ``file``: any precomputed assistance text, from ``path`` (JSONL:
      ``item_id``, ``text``).
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="condition label")
    kind: ConditionKind = "none"
    path: str | None = Field(None, description="the assistance JSONL, keyed by item_id")
    label: str = Field("", description="heading shown above the assistance")

    @model_validator(mode="after")
    def _path_iff_assisted(self) -> ConditionConfig:
        if self.kind == "none" and self.path:
            raise ValueError("kind 'none' takes no path")
        if self.kind != "none" and not self.path:
            raise ValueError(f"kind {self.kind!r} needs a path to its assistance JSONL")
        return self


class GoldConfig(Strict):
    """Gold (check) items: each rater answers ``n`` of them, drawn for that rater
    from a pool of ``pool`` items and put at positions of their own among the
    main items, so raters cannot pool what they learnt about the checks. No
    feedback follows a gold item. A rater passes with at least
    ``pass_threshold`` of their gold items right."""

    n: int = Field(3, ge=0, le=50)
    pass_threshold: float = Field(0.67, ge=0.0, le=1.0)
    pool: int | None = Field(
        None,
        ge=0,
        le=500,
        description="gold items to draw each rater's n from (default: 3 x n, "
        "fewer if the task has not that many items left)",
    )

    @model_validator(mode="after")
    def _pool_holds_n(self) -> GoldConfig:
        if self.pool is not None and self.pool < self.n:
            raise ValueError(f"pool ({self.pool}) must hold at least n ({self.n}) gold items")
        return self


PROLIFIC_PID = r"^[0-9a-f]{24}$"


class EntryConfig(Strict):
    """Who may enter through the open link ``/s/<study>/start?PID=<id>``.

    A new participant id must match ``pid_pattern`` (default: a Prolific id,
    24 hex characters); at most ``max_pids_per_address`` new ids are accepted
    from one client address (``null``: no cap). The client address is the
    connection's peer, or the ``X-Forwarded-For`` address when the peer is a
    proxy listed in ``$SANDWICH_TRUSTED_PROXIES``.
    """

    pid_pattern: str = Field(PROLIFIC_PID, description="regex a new participant id must match")
    max_pids_per_address: int | None = Field(
        3, ge=1, description="new participant ids per client address (null: no cap)"
    )

    @model_validator(mode="after")
    def _pattern_compiles(self) -> EntryConfig:
        try:
            re.compile(self.pid_pattern)
        except re.error as exc:
            raise ValueError(f"pid_pattern {self.pid_pattern!r} is not a regex: {exc}") from None
        return self


class TrainingConfig(Strict):
    """Training items shown first, each followed by the correct answer."""

    n: int = Field(2, ge=0, le=50)


# --- crowd-study checks: comprehension, attention, enforced time limit -------------


class ComprehensionQuestion(Strict):
    """A question about the instructions, answered by choosing one of ``options``."""

    question: str = Field(min_length=1)
    options: list[str] = Field(min_length=2, description="the choices shown, in this order")
    answer: str = Field(description="the right option (one of options, spelt the same)")

    @model_validator(mode="after")
    def _answer_is_an_option(self) -> ComprehensionQuestion:
        if len(set(self.options)) != len(self.options):
            raise ValueError(f"options must be distinct, got {self.options}")
        if self.answer not in self.options:
            raise ValueError(f"answer {self.answer!r} is not one of the options {self.options}")
        return self


class ComprehensionConfig(Strict):
    """Questions about the instructions, asked after them and before any item.

    A rater who gets any question wrong in ``attempts`` tries is screened out:
    no items, no completion code, a page asking them to return the task.
    """

    questions: list[ComprehensionQuestion] = Field(default_factory=list)
    attempts: int = Field(2, ge=1, le=5, description="tries before the rater is screened out")


class AttentionCheck(Strict):
    """An instructed-response item: ``text`` tells the rater what to answer.

    In a pairwise study (``pairs``) it is a pair too: ``text`` is the prompt,
    ``completion_a`` and ``completion_b`` the two completions, and ``answer``
    the instructed pick (``true`` or ``a``: completion_a; ``false`` or ``b``:
    completion_b). The rater sees the two in a random order, so the text
    should name the completion by its content, not its position.
    """

    text: str = Field(min_length=1, description='e.g. "To show you are reading, answer False."')
    answer: bool = Field(description="the instructed answer (pairwise: true/a = completion_a)")
    completion_a: str | None = Field(None, min_length=1, description="pairwise studies only")
    completion_b: str | None = Field(None, min_length=1, description="pairwise studies only")

    @field_validator("answer", mode="before")
    @classmethod
    def _a_or_b(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("a", "b"):
            return value.strip().lower() == "a"
        return value

    @property
    def is_pair(self) -> bool:
        return self.completion_a is not None or self.completion_b is not None


class AttentionConfig(Strict):
    """Attention checks mixed among the main items at per-rater random positions.

    Exclusion rule: a rater who fails more than ``max_failed`` of them is
    excluded: they are stopped (no completion code), every label they gave is
    left out of the analysis (and marked ``excluded`` in the export), and their
    main-item slots are released to other raters.
    """

    items: list[AttentionCheck] = Field(default_factory=list)
    max_failed: int = Field(0, ge=0, description="failures allowed; one more excludes the rater")


class TimeLimitConfig(Strict):
    """The per-item time limit, measured by the server from when the item was assigned.

    ``enforce: false`` only flags late answers (``over_time``); ``enforce:
    true`` records a late answer as timed out: stored, but left out of the
    analysis, and its slot released to another rater.
    """

    seconds: int = Field(90, ge=5, le=3600)
    enforce: bool = False


PAIRWISE_WORDING = {
    "title": "Which completion is better?",
    "question": "Which completion is better?",
    "instructions": "Read the prompt and its two completions and choose the better one. "
    "Say how sure you are.",
}
# a model's true/false answer or a debate has no meaning for a pair; free text has
PAIRWISE_CONDITIONS: tuple[ConditionKind, ...] = ("none", "file")


class StudyConfig(Strict):
    """A human study: which items, which assistance, how many raters per item."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="study id (URL-safe)")
    title: str = "Is this statement true?"
    question: str = Field("Is this statement true?", description="the question raters answer")
    instructions: str = Field(
        "Read each statement and decide whether it is true. Say how sure you are.",
        description="shown before the training phase",
    )
    pairs: str | None = Field(
        None,
        description="a JSONL of pairwise comparisons (prompt, completion_a, completion_b "
        "[, gold] or prompt, chosen, rejected [, scores]): a pairwise study; or task",
    )
    task: TaskConfig | None = Field(
        None,
        validate_default=True,
        description="where the statements come from (as in run configs); or pairs",
    )
    n_items: int = Field(40, ge=1, description="main items drawn from the task")
    seed: int = Field(0, description="which items are drawn for main, gold and training")
    conditions: list[ConditionConfig] = Field(min_length=1)
    design: Literal["between", "within"] = Field(
        "between", description="between: one condition per rater; within: conditions mixed"
    )
    overlap: int = Field(3, ge=1, le=50, description="raters per item and condition")
    items_per_rater: int = Field(10, ge=1, description="main items one rater answers")
    time_limit_seconds: int = Field(90, ge=5, le=3600, description="per item")
    time_limit: TimeLimitConfig | None = Field(
        None, description="per item, {seconds, enforce}; sets time_limit_seconds"
    )
    comprehension: ComprehensionConfig = ComprehensionConfig()
    attention: AttentionConfig = AttentionConfig()
    gold: GoldConfig = GoldConfig()
    training: TrainingConfig = TrainingConfig()
    completion_code: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{4,40}$",
        description="prefix of each rater's own completion code (default: random)",
    )
    allow_pid_entry: bool = Field(
        True, description="open entry link /s/<study>/start?PID=<id> (Prolific/MTurk style)"
    )
    entry: EntryConfig = EntryConfig()

    @model_validator(mode="before")
    @classmethod
    def _one_time_limit(cls, data: Any) -> Any:
        """``time_limit.seconds`` is the limit; ``time_limit_seconds`` (older files) must agree."""
        if not isinstance(data, dict) or not isinstance(data.get("time_limit"), dict):
            return data
        seconds = data["time_limit"].get("seconds", TimeLimitConfig().seconds)
        old = data.get("time_limit_seconds")
        if old is not None and old != seconds:
            raise ValueError(
                f"time_limit_seconds ({old}) and time_limit.seconds ({seconds}) disagree: "
                "give only time_limit"
            )
        return {**data, "time_limit_seconds": seconds}

    @model_validator(mode="before")
    @classmethod
    def _pairwise_wording(cls, data: Any) -> Any:
        """A pairwise study asks which completion is better unless it says otherwise."""
        if not isinstance(data, dict) or not data.get("pairs"):
            return data
        return {**PAIRWISE_WORDING, **data}

    @property
    def is_pairwise(self) -> bool:
        """Items are pairs (``pairs``), not statements (``task``)."""
        return self.pairs is not None

    @field_validator("task")
    @classmethod
    def _task_or_pairs(cls, task: TaskConfig | None, info: ValidationInfo) -> TaskConfig | None:
        """Exactly one of task and pairs (checked on ``task``, declared after ``pairs``,
        so that a file without either is told so next to its other errors)."""
        if (task is None) == (info.data.get("pairs") is None):
            raise ValueError(
                "give exactly one of task (statements) or pairs (a pairwise comparisons file)"
            )
        return task

    @model_validator(mode="after")
    def _pairwise_parts(self) -> StudyConfig:
        for k, check in enumerate(self.attention.items):
            if self.is_pairwise and (check.completion_a is None or check.completion_b is None):
                raise ValueError(
                    f"attention.items.{k}: a pairwise study's attention check needs "
                    "completion_a and completion_b (text is the prompt)"
                )
            if not self.is_pairwise and check.is_pair:
                raise ValueError(
                    f"attention.items.{k}: completion_a/completion_b are for pairwise studies only"
                )
        for k, cond in enumerate(self.conditions):
            if self.is_pairwise and cond.kind not in PAIRWISE_CONDITIONS:
                raise ValueError(
                    f"conditions.{k}.kind: a pairwise study takes kind "
                    f"{' or '.join(map(repr, PAIRWISE_CONDITIONS))}, got {cond.kind!r}"
                )
        return self

    @property
    def enforce_time_limit(self) -> bool:
        return self.time_limit is not None and self.time_limit.enforce

    @model_validator(mode="after")
    def _distinct_conditions(self) -> StudyConfig:
        names = [c.name for c in self.conditions]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"conditions: names must be distinct, repeated: {dup}")
        return self


def parse_study(data: object, source: str = "<study>", base_dir: Path | None = None) -> StudyConfig:
    """Validate a study dict; relative condition paths are resolved against ``base_dir``."""
    cfg = validate_document(StudyConfig, data, source, "study")
    if base_dir is None:
        return cfg
    conds = [
        c.model_copy(update={"path": str((base_dir / c.path).resolve())})
        if c.path and not Path(c.path).is_absolute()
        else c
        for c in cfg.conditions
    ]
    task = cfg.task
    if task is not None and task.path and not Path(task.path).is_absolute():
        task = task.model_copy(update={"path": str((base_dir / task.path).resolve())})
    pairs = cfg.pairs
    if pairs is not None and not Path(pairs).is_absolute():
        pairs = str((base_dir / pairs).resolve())
    return cfg.model_copy(update={"conditions": conds, "task": task, "pairs": pairs})


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a study YAML file."""
    p = Path(path)
    return parse_study(read_yaml(p, "study"), str(p), p.parent)
