"""The ``reward`` kind's config section, cell and result record (pydantic only).

A reward model trained on a supervisor's preferences between a policy's
completions, and what optimising against it costs (Gao et al. 2022, "Scaling laws
for reward model overoptimization"; Burns et al. 2023 for PGR of reward models).
A cell is one (preference task, policy, strong model, supervisor, reward model,
seed): the supervisor's preferences on B's comparisons train the reward model on
the strong model (a Bradley-Terry head on its frozen features, ``bt``, or the
model fine-tuned with a scalar head, ``finetuned``); the record holds its pairwise
accuracy against gold on T's comparisons with the PGR between the supervisor's own
accuracy (weak) and the same reward model on B's gold preferences (ceiling), and
the best-of-n curve of T's prompts (gold and proxy reward against sqrt(KL_bon))
with the fitted Gao form. See docs/rewards.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from sandwich.config import Strict, check_unique
from sandwich.results import Interval, MaybeFloat
from sandwich.results.kinds import KindCell, KindSchema

RewardModel = Literal["bt", "finetuned"]
SUPERVISOR_NAMES = ("gold", "weak-rm", "nonexpert", "judge", "human")
FLAG_GOLD_SUPERVISOR = "gold_supervisor"  # the supervisor is gold: it is the ceiling, no PGR
FLAG_SMALL_GAP = "small_gap"  # ceiling - weak is not significantly above 0.02: PGR unreliable
FLAG_NO_PEAK = "no_peak"  # the fitted gold curve has no maximum (beta <= 0): no over-optimisation


class RewardTaskConfig(Strict):
    """A preference task: a built-in generator (``name``: geo-prefs, arith-prefs) or a JSONL
    file of prompt / chosen / rejected (``path``; docs/rewards.md, "Preference data")."""

    name: str | None = Field(None, description="built-in preference task (geo-prefs, ...)")
    path: str | None = Field(None, description="a JSONL file of prompt, chosen, rejected")
    n_prompts: int = Field(120, ge=8, description="prompts to generate (at most, from a file)")
    seed: int = Field(0, description="which prompts (the split and sampling use the cell seed)")
    params: dict[str, Any] = Field(default_factory=dict, description="task-specific parameters")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        given = [k for k in ("name", "path") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of name, path (got {given or 'none'})")
        return self

    @property
    def label(self) -> str:
        return self.name or Path(str(self.path)).stem


class Sampling(Strict):
    """How the policy's completions are drawn (one seed per prompt and sample: resumable)."""

    temperature: float = Field(1.0, ge=0.0, le=5.0, description="1.0: the policy as it is")
    max_new_tokens: int = Field(8, ge=1, le=512, description="tokens per completion")


class Comparisons(Strict):
    """The preference questions: ``samples`` completions per prompt, ``per_prompt`` distinct
    pairs of them asked per prompt (gold ties kept, scored 0.5)."""

    samples: int = Field(4, ge=2, le=64, description="completions per prompt for comparisons")
    per_prompt: int = Field(6, ge=1, description="comparisons per prompt (<= samples choose 2)")

    @model_validator(mode="after")
    def _enough_pairs(self) -> Self:
        pairs = self.samples * (self.samples - 1) // 2
        if self.per_prompt > pairs:
            raise ValueError(
                f"per_prompt: {self.per_prompt} comparisons per prompt, but {self.samples} "
                f"samples make only {pairs} distinct pairs"
            )
        return self


class BestOfN(Strict):
    """Best-of-n on T's prompts: ``n`` samples per prompt drawn once; every ``ns`` value is
    estimated from them without resampling (the unbiased estimator, n <= N)."""

    n: int = Field(32, ge=2, le=4096, description="samples per T prompt (N >= max(ns))")
    ns: list[int] | None = Field(None, description="n values of the curve (default 1, 2, 4.. N)")

    @model_validator(mode="after")
    def _ns(self) -> Self:
        if self.ns is None:
            return self
        if not self.ns or sorted(set(self.ns)) != self.ns:
            raise ValueError(f"ns: must be increasing and distinct, got {self.ns}")
        if self.ns[0] != 1:
            raise ValueError(f"ns: must start at 1 (the policy itself, KL 0), got {self.ns}")
        if self.ns[-1] > self.n:
            raise ValueError(f"ns: {self.ns[-1]} > n = {self.n} samples per prompt")
        return self

    @property
    def curve(self) -> list[int]:
        """The n values of the curve: ``ns``, or the powers of two up to N (and N)."""
        if self.ns is not None:
            return list(self.ns)
        out = [1]
        while out[-1] * 2 <= self.n:
            out.append(out[-1] * 2)
        return out if out[-1] == self.n else [*out, self.n]


class BTParams(Strict):
    """The Bradley-Terry head on frozen features (``rewards.bradley_terry.BradleyTerryHead``)."""

    l2: float = Field(1.0, gt=0, description="L2 penalty of the logistic fit")


class PrefSupervisor(Strict):
    """A supervisor of preferences: ``gold``; ``weak-rm`` (``model``: the weak model whose
    features its head reads); ``nonexpert``; ``judge`` (``generator``: a generator spec, a
    bare name = the local backend); ``human`` (``study``: a study's pairwise labels).
    A string is shorthand: ``gold``, ``nonexpert``, ``weak-rm:minilm-l6``,
    ``judge:smollm2-135m``, ``human:<study>``."""

    name: Literal["gold", "weak-rm", "nonexpert", "judge", "human"]
    model: str | None = Field(None, description="weak-rm: the weak model")
    generator: dict[str, Any] | None = Field(None, description="judge: its generator spec")
    study: str | None = Field(None, description="human: the study whose labels to aggregate")
    params: dict[str, Any] = Field(default_factory=dict, description="the supervisor's params")
    label: str | None = Field(None, description="display name (default: the shorthand)")

    @field_validator("generator", mode="before")
    @classmethod
    def _spec(cls, v: Any) -> Any:
        return {"backend": "local", "model": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _needs(self) -> Self:
        need = {"weak-rm": "model", "judge": "generator", "human": "study"}.get(self.name)
        if need is not None and getattr(self, need) is None:
            raise ValueError(f"{need}: {self.name} needs one (e.g. {self.name}:<{need}>)")
        for other in ("model", "generator", "study"):
            if other != need and getattr(self, other) is not None:
                raise ValueError(f"{other}: not a field of the {self.name} supervisor")
        return self

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        if self.model:
            return f"{self.name}:{self.model}"
        if self.generator:
            return f"{self.name}:{self.generator.get('model', self.generator.get('backend'))}"
        if self.study:
            return f"{self.name}:{self.study}"
        return self.name


def _supervisor_shorthand(v: Any) -> Any:
    """``weak-rm:minilm-l6`` -> {name: weak-rm, model: minilm-l6}; ``gold`` -> {name: gold}."""
    if not isinstance(v, str):
        return v
    name, _, arg = v.partition(":")
    field = {"weak-rm": "model", "judge": "generator", "human": "study"}.get(name)
    if not arg:
        return {"name": name}
    if field is None:
        return {"name": name, "model": arg}  # refused by the model, naming the field
    return {"name": name, field: arg}


class RewardSection(Strict):
    """The ``reward:`` section (docs/rewards.md)."""

    task: RewardTaskConfig = Field(description="the preference task (name or path)")
    policy: dict[str, Any] = Field(
        description="the policy whose completions are compared: a generator spec (a bare "
        "model name = the local backend)"
    )
    strong: list[str] = Field(min_length=1, description="models the reward models are built on")
    supervisors: list[PrefSupervisor] = Field(
        min_length=1, description="whose preferences of B train the reward models"
    )
    reward_models: list[RewardModel] = Field(
        default_factory=lambda: list[RewardModel](["bt"]),
        min_length=1,
        description="bt (a Bradley-Terry head on frozen features) and/or finetuned",
    )
    sampling: Sampling = Field(default_factory=Sampling)
    comparisons: Comparisons = Field(default_factory=Comparisons)
    bon: BestOfN = Field(default_factory=BestOfN)
    bt: BTParams = Field(default_factory=BTParams)
    finetuned: dict[str, Any] | None = Field(
        None, description="the fine-tuned reward model's params (rewards.finetuned)"
    )
    rl: dict[str, Any] | None = Field(
        None, description="RL of the policy against each proxy (rewards.rl; off when null)"
    )
    dpo: dict[str, Any] | None = Field(
        None,
        description="DPO of the policy on B's comparisons ranked by each proxy, the offline "
        "counterpart of rl (rewards.rl.DPOParams; off when null)",
    )

    @field_validator("policy", mode="before")
    @classmethod
    def _policy(cls, v: Any) -> Any:
        return {"backend": "local", "model": v} if isinstance(v, str) else v

    @field_validator("task", mode="before")
    @classmethod
    def _task(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("strong", mode="before")
    @classmethod
    def _strong(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("supervisors", mode="before")
    @classmethod
    def _supervisors(cls, v: Any) -> Any:
        items = v if isinstance(v, list) else [v]
        return [_supervisor_shorthand(s) for s in items]

    @property
    def policy_label(self) -> str:
        return policy_label(self.policy)


def policy_label(spec: dict[str, Any]) -> str:
    return str(spec.get("model", spec.get("backend", "?")))


class RewardCell(KindCell):
    """One (preference task, policy, strong model, supervisor, reward model, seed)."""

    kind: Literal["reward"] = "reward"
    task: RewardTaskConfig
    policy: dict[str, Any]
    strong: str
    supervisor: PrefSupervisor
    rm: RewardModel
    seed: int

    @property
    def label(self) -> str:
        return (
            f"{self.task.label} | {policy_label(self.policy)} | {self.strong} "
            f"{self.rm} | {self.supervisor.display} | seed {self.seed}"
        )


class BonPointRecord(BaseModel):
    """Best-of-n at one n: gold and proxy reward relative to the policy's mean (n = 1 gives
    0), averaged over T's prompts, with intervals over prompts."""

    n: int
    kl: float
    sqrt_kl: float
    gold: float
    gold_ci: Interval
    proxy: float
    proxy_ci: Interval


class GaoFitRecord(BaseModel):
    """A fitted Gao form: ``bon`` r = d (alpha - beta d), ``rl`` r = d (alpha - beta log d),
    d = sqrt(KL); the peak of the fitted curve (None when it has none)."""

    form: str
    alpha: float
    beta: float
    r2: MaybeFloat
    rmse: MaybeFloat
    peak_d: MaybeFloat
    peak_r: MaybeFloat
    n_points: int


class RLStepRecord(BaseModel):
    """One logged step of RL against the proxy: KL to the initial policy, proxy and gold."""

    step: int
    kl: float
    proxy: float
    gold: float


class RewardRecord(BaseModel):
    """One cell's numbers (docs/rewards.md, "What it measures").

    Accuracies are pairwise accuracies against gold on T's comparisons without a gold
    tie: ``weak_acc`` the supervisor's own preferences, ``student_acc`` the reward model
    trained on them, ``ceiling_acc`` the same reward model trained on B's gold
    preferences. Intervals: a bootstrap over T's prompts (comparisons of one prompt
    resampled together), paired across the three. ``agreement_on_errors``: on T's
    comparisons the supervisor gets wrong, the share where the reward model prefers what
    the supervisor did (copying its mistakes; independent errors agree about as often as
    the reward model errs elsewhere)."""

    kind: Literal["reward"] = "reward"
    task: str
    policy: str
    strong: str
    supervisor: str
    rm: str
    seed: int
    n_train: int = Field(description="B's comparisons the reward model was trained on")
    n_test: int = Field(description="T's comparisons without a gold tie")
    n_test_prompts: int
    supervisor_acc_b: MaybeFloat = Field(description="the supervisor's accuracy on B's labels")
    weak_acc: float
    weak_acc_ci: Interval
    student_acc: float
    student_acc_ci: Interval
    ceiling_acc: float
    ceiling_acc_ci: Interval
    gap: float
    gap_ci: Interval
    pgr: MaybeFloat
    pgr_ci: Interval
    agreement_on_errors: MaybeFloat
    bon: list[BonPointRecord] = Field(default_factory=list)
    gao_gold: GaoFitRecord | None = None
    gao_proxy: GaoFitRecord | None = None
    bon_peak_n: int | None = Field(None, description="the n of the highest measured gold")
    rl: list[RLStepRecord] = Field(default_factory=list)
    gao_rl_gold: GaoFitRecord | None = None
    dpo: list[RLStepRecord] = Field(default_factory=list)
    gao_dpo_gold: GaoFitRecord | None = None
    flags: list[str] = Field(default_factory=list)
    specs: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0


def _check(config: Any, section: RewardSection) -> list[str]:
    """Model names that are not models, bad generator specs, duplicates, bad params."""
    from sandwich.models.names import check_model_name
    from sandwich.protocols.generators import check_spec
    from sandwich.rewards.supervisors import (
        HumanParams,
        JudgeParams,
        NonexpertParams,
        WeakRMParams,
    )

    problems = [f"reward.policy.{p}" for p in check_spec(section.policy)]
    for i, s in enumerate(section.strong):
        if (msg := check_model_name(s)) is not None:
            problems.append(f"reward.strong.{i}: {msg}")
    params: dict[str, type[BaseModel]] = {
        "nonexpert": NonexpertParams,
        "weak-rm": WeakRMParams,
        "judge": JudgeParams,
        "human": HumanParams,
    }
    for i, sup in enumerate(section.supervisors):
        where = f"reward.supervisors.{i}"
        if sup.model is not None and (msg := check_model_name(sup.model)) is not None:
            problems.append(f"{where}.model: {msg}")
        if sup.generator is not None:
            problems += [f"{where}.generator.{p}" for p in check_spec(sup.generator)]
        model = params.get(sup.name)
        if model is None and sup.params:
            problems.append(f"{where}.params: the {sup.name} supervisor takes none")
        elif model is not None:
            problems += _params_problems(f"{where}.params", model, sup.params)
    if section.finetuned is not None:
        from sandwich.rewards.finetuned import FineTunedRMParams

        problems += _params_problems("reward.finetuned", FineTunedRMParams, section.finetuned)
    if section.rl is not None:
        from sandwich.rewards.rl import RLParams

        problems += _params_problems("reward.rl", RLParams, section.rl)
        if section.policy.get("backend") != "local":
            problems.append("reward.rl: RL trains the policy's weights: give a local policy "
                            "(backend: local)")  # fmt: skip
        if "bt" not in section.reward_models:
            problems.append("reward.rl: RL's proxy is the bt reward model: add bt to reward_models")
    if section.dpo is not None:
        from sandwich.rewards.rl import DPOParams

        problems += _params_problems("reward.dpo", DPOParams, section.dpo)
        if section.policy.get("backend") != "local":
            problems.append("reward.dpo: DPO trains the policy's weights: give a local policy "
                            "(backend: local)")  # fmt: skip
        if "bt" not in section.reward_models:
            problems.append("reward.dpo: DPO's pairs are ranked by the bt reward model: add bt "
                            "to reward_models")  # fmt: skip
    if "finetuned" in section.reward_models and section.finetuned is None:
        problems.append(
            "reward.finetuned: reward_models lists finetuned; give its params ({} for the defaults)"
        )
    check_unique("reward.strong", list(section.strong), problems)
    check_unique("reward.supervisors", [s.display for s in section.supervisors], problems)
    check_unique("reward.reward_models", list(section.reward_models), problems)
    if section.task.path and not Path(section.task.path).is_file():
        problems.append(f"reward.task.path: no such file {section.task.path!r}")
    return problems + _task_problems(section.task)


def _task_problems(task: RewardTaskConfig) -> list[str]:
    """An unknown built-in preference task or a bad parameter of it (nothing is built)."""
    if task.name is None:
        return []
    from sandwich.registry import param_problems
    from sandwich.rewards.data import REWARD_TASKS

    given = {k: v for k, v in task.params.items() if k != "gold"}
    return param_problems(
        "reward.task",
        REWARD_TASKS,
        task.name,
        {**given, "seed": task.seed, "n_items": task.n_prompts},
    )


def _params_problems(where: str, model: type[BaseModel], given: dict[str, Any]) -> list[str]:
    from pydantic import ValidationError

    try:
        model.model_validate(given)
    except ValidationError as exc:
        return [
            ".".join([where, *(str(p) for p in e["loc"])])
            + ": "
            + ("unknown parameter" if e["type"] == "extra_forbidden" else e["msg"])
            for e in exc.errors()
        ]
    return []


REWARD_SCHEMA = KindSchema(
    cell=RewardCell, cell_result=RewardRecord, section=RewardSection, check=_check, tasks=False
)
