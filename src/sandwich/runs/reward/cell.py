"""One reward cell: completions, features, the supervisor's preferences, the reward
models, and the measurements on T.

Every stage is an artifact keyed by what determines it, so a rerun reads it
and a killed run resumes from the last stored stage:

- ``reward-completions``: the policy's samples of a task's prompts (``samples``
  per prompt for the comparisons; ``bon.n`` per T prompt for best-of-n), keyed by
  the prompts, the policy's generator, the sampling settings and the seed. Cells
  of every strong model, supervisor and reward model share them (and the response
  cache under them holds each generation).
- features of the completions (prompt + completion) by the run's features
  service (``features``, keyed by the completion task's fingerprint).
- ``reward-prefs``: the supervisor's P(a preferred) on B and T, keyed by the
  comparisons, the supervisor's spec and the features it read.
- ``reward-rm``: the reward model trained on B's preferences (by content) and
  its reward of every completion of the comparison and best-of-n sets; the
  ceiling is the same stage on B's gold preferences (shared by every supervisor).

The measurements (pairwise accuracies, PGR, agreement on errors, the best-of-n
curve with its intervals, the Gao fits) are recomputed from stored arrays.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np

from sandwich.errors import ConfigError
from sandwich.models.generation.base import Generator
from sandwich.rewards.data import (
    Completion,
    GoldReward,
    PreferenceSet,
    RewardPrompt,
    completion_item_id,
    load_reward_task,
    sample_completions,
)
from sandwich.rewards.supervisors import (
    PreferenceSupervisor,
    PrefQuestions,
    build_pref_supervisor,
)
from sandwich.runs.context import RunContext
from sandwich.runs.reward.schema import (
    FLAG_GOLD_SUPERVISOR,
    FLAG_NO_PEAK,
    FLAG_SMALL_GAP,
    BonPointRecord,
    GaoFitRecord,
    RewardCell,
    RewardRecord,
    RewardSection,
    RewardTaskConfig,
    RLStepRecord,
    policy_label,
)
from sandwich.store import ArtifactKey

VERSION = 1
Arrays = dict[str, np.ndarray]
SPLITS = ("train_weak", "train_strong", "test")
_TASKS: dict[str, tuple[list[RewardPrompt], GoldReward | None]] = {}


def section_of(ctx: RunContext) -> RewardSection:
    section: RewardSection = ctx.config.section("reward")
    return section


def load_prompts(task: RewardTaskConfig) -> tuple[list[RewardPrompt], GoldReward | None]:
    """The task's prompts (with completions for a file) and its gold program (None for a
    file), made once per process."""
    key = task.model_dump_json()
    if key not in _TASKS:
        source = task.name or str(task.path)
        try:
            _TASKS[key] = load_reward_task(source, task.n_prompts, task.seed, task.params)
        except (ConfigError, ValueError) as exc:
            raise ConfigError(f"reward.task: {exc}") from None
    return _TASKS[key]


def content(array: np.ndarray) -> str:
    """A key fragment naming an array by its content."""
    return ArtifactKey("labels-ref", VERSION, {"labels": np.asarray(array)}).hex


def policy_generator(ctx: RunContext, spec: dict[str, Any]) -> Generator:
    """The caller's generator for the policy (tests, notebooks), else the spec's (cached)."""
    given = ctx.generators.get(policy_label(spec))
    if given is not None:
        return given
    from sandwich.protocols.generators import build_generator

    return build_generator(spec)


def completions_key(
    task: RewardTaskConfig,
    policy: dict[str, Any],
    n: int,
    which: str,
    section: RewardSection,
    seed: int,
    ids: list[str],
) -> ArtifactKey:
    inputs = {
        "task": task.model_dump(mode="json"),
        "prompts": ids,
        "policy": policy,
        "n": n,
        "which": which,
        "sampling": section.sampling.model_dump(),
        "seed": seed,
    }
    return ArtifactKey("reward-completions", VERSION, inputs)


def sampled_set(
    ctx: RunContext,
    task: RewardTaskConfig,
    policy: dict[str, Any],
    prompts: list[RewardPrompt],
    gold: GoldReward,
    n: int,
    seed: int,
    which: str,
) -> PreferenceSet:
    """``n`` completions of each prompt by the policy, scored by gold (stored as texts and
    gold; rebuilt as a PreferenceSet)."""
    section = section_of(ctx)
    key = completions_key(task, policy, n, which, section, seed, [p.id for p in prompts])

    def compute() -> dict[str, Any]:
        s = sample_completions(
            policy_generator(ctx, policy),
            prompts,
            n,
            seed,
            max_new_tokens=section.sampling.max_new_tokens,
            temperature=section.sampling.temperature,
            gold=gold,
            name=f"{task.label} {which}",
            progress=ctx.progress,
        )
        return {p.id: [[c.text, c.gold] for c in p.completions] for p in s.prompts}

    stored = ctx.store.json(key, compute)
    out = [p.with_completions([Completion(t, g) for t, g in stored[p.id]]) for p in prompts]
    return PreferenceSet(out, f"{task.label} {which}", {"kind": "sampled", "key": key.hex})


@dataclass
class RewardData:
    """What one cell's stages read: the comparison set (its A/B/T parts and comparisons),
    the best-of-n set of T's prompts, and features of their completions by model."""

    ctx: RunContext
    task: RewardTaskConfig
    policy: dict[str, Any]
    seed: int
    gold_program: GoldReward | None
    full: PreferenceSet
    parts: dict[str, PreferenceSet]
    bon: PreferenceSet | None

    @classmethod
    def build(
        cls, ctx: RunContext, task: RewardTaskConfig, policy: dict[str, Any], seed: int
    ) -> RewardData:
        section = section_of(ctx)
        prompts, gold = load_prompts(task)
        if gold is None:  # a preference file: its own two completions per prompt
            full = PreferenceSet(prompts, task.label, {"kind": "file", "path": task.path})
        else:
            full = sampled_set(
                ctx, task, policy, prompts, gold, section.comparisons.samples, seed, "comparisons"
            )
        try:
            parts = full.split(seed, ctx.config.split)
        except ConfigError as exc:
            raise ConfigError(f"reward.task ({task.label}): {exc}") from None
        bon = None
        if gold is not None:
            test_ids = {p.id for p in parts["test"].prompts}
            t_prompts = [p for p in prompts if p.id in test_ids]
            bon = sampled_set(ctx, task, policy, t_prompts, gold, section.bon.n, seed, "bon")
        return cls(ctx, task, policy, seed, gold, full, parts, bon)

    def comparisons_key(self) -> dict[str, Any]:
        """What fixes the comparisons of every split (part of every later key)."""
        return {
            "set": self.full.fingerprint(),
            "seed": self.seed,
            "split": asdict(self.ctx.config.split),
            "comparisons": section_of(self.ctx).comparisons.model_dump(),
        }

    @cached_property
    def comparisons(self) -> dict[str, list[Any]]:
        per = section_of(self.ctx).comparisons.per_prompt
        return {s: self.parts[s].comparisons(per, self.seed) for s in SPLITS}

    def rows(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows of each comparison's a and b in :attr:`full`'s completion table."""
        index = self._rows(self.full)
        cs = self.comparisons[split]
        return (
            np.array([index[completion_item_id(c.prompt_id, c.a)] for c in cs], int),
            np.array([index[completion_item_id(c.prompt_id, c.b)] for c in cs], int),
        )

    def _rows(self, pset: PreferenceSet) -> dict[str, int]:
        return {it.id: i for i, it in enumerate(self.task_of(pset).items)}

    def task_of(self, pset: PreferenceSet) -> Any:
        cache = self.__dict__.setdefault("_tasks", {})
        if id(pset) not in cache:
            cache[id(pset)] = pset.completion_task()
        return cache[id(pset)]

    def features(self, model: str, which: str = "comparisons") -> np.ndarray:
        """``model``'s features of every completion of the comparison (or bon) set, in
        completion-table order."""
        pset = self.full if which == "comparisons" else self.bon
        if pset is None:
            raise ConfigError("no best-of-n set: the task has no gold program")
        task = self.task_of(pset)
        rows, x = self.ctx.features.table(model, task)
        return x[[rows[it.id] for it in task.items]]

    def features_key(self, model: str, which: str = "comparisons") -> str:
        pset = self.full if which == "comparisons" else self.bon
        if pset is None:
            return ""
        return self.ctx.features.key(model, self.task_of(pset)).hex

    def questions(self, split: str, reveal: bool) -> PrefQuestions:
        """One split's comparisons as a supervisor sees them (features by model)."""
        ra, rb = self.rows(split)

        def lookup(model: str) -> tuple[np.ndarray, np.ndarray]:
            x = self.features(model)
            return x[ra], x[rb]

        prompts = {p.id: p for p in self.parts[split].prompts}
        return PrefQuestions.build(self.comparisons[split], prompts, lookup, reveal)

    def gold(self, split: str) -> np.ndarray:
        return np.array([c.gold for c in self.comparisons[split]], dtype=np.float64)

    def clusters(self, split: str) -> np.ndarray:
        return np.array([c.prompt_id for c in self.comparisons[split]])

    def bon_gold(self) -> np.ndarray:
        """(T prompts, N) gold of the best-of-n samples, in completion-table order."""
        if self.bon is None:
            raise ConfigError("no best-of-n set: the task has no gold program")
        return np.stack([p.golds() for p in self.bon.prompts])


def prefs_key(data: RewardData, sup: PreferenceSupervisor) -> ArtifactKey:
    feats = {m: data.features_key(m) for m in sup.feature_models()}
    inputs = {**data.comparisons_key(), "supervisor": sup.spec(), "features": feats}
    return ArtifactKey("reward-prefs", VERSION, inputs)


def supervisor_prefs(ctx: RunContext, data: RewardData, sup: PreferenceSupervisor) -> Arrays:
    """The supervisor's P(a preferred) on B (``train_strong``) and T (``test``): fit on A's
    questions with gold revealed, then labels questions whose gold it cannot read (unless
    it is the gold supervisor)."""

    def compute() -> Arrays:
        sup.fit(data.questions("train_weak", reveal=True), data.seed)
        return {
            s: sup.prefs(data.questions(s, reveal=sup.reads_gold), data.seed)
            for s in ("train_strong", "test")
        }

    return ctx.store.arrays(prefs_key(data, sup), compute)


def rm_key(data: RewardData, rm: str, strong: str, labels: np.ndarray) -> ArtifactKey:
    section = section_of(data.ctx)
    how: Any = section.bt.model_dump() if rm == "bt" else section.finetuned
    inputs = {
        **data.comparisons_key(),
        "rm": rm,
        "how": how,
        "strong": strong,
        "features": data.features_key(strong),
        "bon": data.features_key(strong, "bon"),
        "labels": content(labels),
    }
    return ArtifactKey("reward-rm", VERSION, inputs)


def fit_bt(data: RewardData, strong: str, labels: np.ndarray) -> Any:
    """The Bradley-Terry head on ``strong``'s features of B's comparisons, fit on ``labels``."""
    from sandwich.rewards.bradley_terry import BradleyTerryHead

    ra, rb = data.rows("train_strong")
    x = data.features(strong)
    head = BradleyTerryHead(l2=section_of(data.ctx).bt.l2, random_state=data.seed)
    return head.fit(x[ra], x[rb], labels)


def reward_model(
    ctx: RunContext, data: RewardData, rm: str, strong: str, labels: np.ndarray
) -> Arrays:
    """The reward model trained on B's ``labels`` and its reward of every completion:
    ``comparisons`` (the comparison set) and ``bon`` (the best-of-n set, if any)."""

    def compute() -> Arrays:
        if rm == "bt":
            head = fit_bt(data, strong, labels)
            out = {"comparisons": head.reward(data.features(strong))}
            if data.bon is not None:
                out["bon"] = head.reward(data.features(strong, "bon"))
            return out
        return _finetuned(ctx, data, strong, labels)

    return ctx.store.arrays(rm_key(data, rm, strong, labels), compute)


def _finetuned(ctx: RunContext, data: RewardData, strong: str, labels: np.ndarray) -> Arrays:
    """The strong model fine-tuned with a scalar head (rewards.finetuned) on B's labels; a
    killed training resumes from its checkpoints (removed once the rewards are stored)."""
    from sandwich.rewards.finetuned import FineTunedRMParams, train_reward_model

    params = FineTunedRMParams.model_validate(section_of(ctx).finetuned or {})
    texts = [it.text for it in data.task_of(data.full).items]
    ra, rb = data.rows("train_strong")
    workdir = ctx.store.root / "checkpoints" / rm_key(data, "finetuned", strong, labels).hex
    trained = train_reward_model(
        strong, [texts[i] for i in ra], [texts[i] for i in rb], labels, params, data.seed,
        store=ctx.store, checkpoint_dir=workdir, progress=ctx.progress,
    )  # fmt: skip
    out = {"comparisons": np.asarray(trained.reward(texts), dtype=np.float64)}
    if data.bon is not None:
        bon_texts = [it.text for it in data.task_of(data.bon).items]
        out["bon"] = np.asarray(trained.reward(bon_texts), dtype=np.float64)
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def rl_key(data: RewardData, strong: str, labels: np.ndarray) -> ArtifactKey:
    section = section_of(data.ctx)
    inputs = {"rm": rm_key(data, "bt", strong, labels).hex, "rl": section.rl,
              "policy": data.policy, "features": data.ctx.config.features.model_dump()}  # fmt: skip
    return ArtifactKey("reward-rl", VERSION, inputs)


def _scorers(
    ctx: RunContext, data: RewardData, strong: str, labels: np.ndarray
) -> tuple[list[str], Any, Any]:
    """T's prompt texts, and the proxy (the bt head on ``strong``'s features) and gold
    rewards of (prompts, completions) of them, for RL's and DPO's evaluations."""
    from sandwich.rewards.data import join_text
    from sandwich.runs.features import feature_spec

    gold_program = data.gold_program
    if gold_program is None:  # the callers check first
        raise ConfigError("reward: RL and DPO need the task's gold program (a built-in task)")
    head = fit_bt(data, strong, labels)
    model = ctx.features.model(strong)
    spec = feature_spec(model, ctx.config.features)
    by_text = {p.prompt: p for p in data.parts["test"].prompts}

    def prompt_of(text: str) -> RewardPrompt:
        found = by_text.get(text)
        if found is not None:
            return found
        return next(p for t, p in by_text.items() if text.endswith(t) or t.endswith(text))

    def proxy(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        pairs = zip(prompts, completions, strict=True)
        texts = [join_text(prompt_of(p).prompt, c) for p, c in pairs]
        x = model.features(texts, spec).reshape(len(texts), -1)
        return [float(v) for v in head.reward(x)]

    def gold(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        pairs = zip(prompts, completions, strict=True)
        return [float(gold_program(prompt_of(p), c)) for p, c in pairs]

    return list(by_text), proxy, gold


def policy_rl(ctx: RunContext, data: RewardData, strong: str, labels: np.ndarray) -> list[Any]:
    """RL of the policy against the Bradley-Terry proxy on T's prompts (``rewards.rl``):
    per step, KL to the initial policy and the mean proxy and gold reward of its samples."""
    from sandwich.rewards.rl import RLParams, run_policy_rl

    if data.gold_program is None:
        raise ConfigError("reward.rl: RL needs the task's gold program (a built-in task)")
    params = RLParams.model_validate(section_of(ctx).rl or {})

    def compute() -> list[dict[str, Any]]:
        prompts, proxy, gold = _scorers(ctx, data, strong, labels)
        policy = str(data.policy["model"])
        steps = run_policy_rl(policy, prompts, proxy, gold, params, store=ctx.store)
        return [{"step": s.step, "kl": s.kl, "proxy": s.proxy, "gold": s.gold} for s in steps]

    return list(ctx.store.json(rl_key(data, strong, labels), compute))


def dpo_key(data: RewardData, strong: str, labels: np.ndarray) -> ArtifactKey:
    section = section_of(data.ctx)
    inputs = {"rm": rm_key(data, "bt", strong, labels).hex, "dpo": section.dpo,
              "policy": data.policy, "features": data.ctx.config.features.model_dump()}  # fmt: skip
    return ArtifactKey("reward-dpo", VERSION, inputs)


def proxy_ranked_pairs(data: RewardData, proxy_scores: np.ndarray) -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) of each of B's comparisons, the side the proxy scores
    higher chosen (``proxy_scores``: the reward model's score of every completion of the
    comparison set, in completion-table order). Ties under the proxy and two identical
    texts are left out: nothing to prefer. B's, not T's: T's prompts are where DPO's
    policy is evaluated, and no gold of any split is read here."""
    ra, rb = data.rows("train_strong")
    prompts = {p.id: p for p in data.parts["train_strong"].prompts}
    out = []
    for c, i, j in zip(data.comparisons["train_strong"], ra, rb, strict=True):
        p = prompts[c.prompt_id]
        ta, tb = p.completions[c.a].text, p.completions[c.b].text
        if ta == tb or proxy_scores[i] == proxy_scores[j]:
            continue
        out.append((p.prompt, ta, tb) if proxy_scores[i] > proxy_scores[j] else (p.prompt, tb, ta))
    return out


def policy_dpo(
    ctx: RunContext, data: RewardData, strong: str, labels: np.ndarray, proxy_scores: np.ndarray
) -> list[Any]:
    """DPO of the policy (``rewards.rl.run_dpo``) on B's comparisons ranked by the bt proxy,
    evaluated on T's prompts: per evaluation, KL to the initial policy and the mean proxy
    and gold reward of its samples (the offline counterpart of :func:`policy_rl`)."""
    from sandwich.rewards.rl import DPOParams, run_dpo

    if data.gold_program is None:
        raise ConfigError("reward.dpo: DPO needs the task's gold program (a built-in task)")
    params = DPOParams.model_validate(section_of(ctx).dpo or {})

    def compute() -> list[dict[str, Any]]:
        pairs = proxy_ranked_pairs(data, proxy_scores)
        if not pairs:
            raise ConfigError("reward.dpo: the proxy ties on every one of B's comparisons")
        prompts, proxy, gold = _scorers(ctx, data, strong, labels)
        policy = str(data.policy["model"])
        steps = run_dpo(policy, pairs, gold, prompts, params, proxy=proxy, store=ctx.store)
        return [{"step": s.step, "kl": s.kl, "proxy": s.proxy, "gold": s.gold} for s in steps]

    return list(ctx.store.json(dpo_key(data, strong, labels), compute))


def _interval(ci: Any) -> tuple[float | None, float | None]:
    lo, hi = (float(v) for v in ci)
    return (None if np.isnan(lo) else lo, None if np.isnan(hi) else hi)


def _gao(fit: Any) -> GaoFitRecord | None:
    if fit is None:
        return None
    return GaoFitRecord(
        form=fit.form,
        alpha=float(fit.alpha),
        beta=float(fit.beta),
        r2=fit.r2,
        rmse=fit.rmse,
        peak_d=None if fit.peak_d is None else float(fit.peak_d),
        peak_r=None if fit.peak_r is None else float(fit.peak_r),
        n_points=int(fit.n_points),
    )


def bon_measure(
    data: RewardData, proxy_rewards: np.ndarray, n_boot: int, seed: int
) -> tuple[list[BonPointRecord], Any, Any]:
    """The best-of-n curve of T's prompts (gold and proxy gains over the policy's mean, the
    proxy in standard deviations of its reward of the policy's samples) and the Gao fits."""
    from sandwich.rewards.bon import bon_curve
    from sandwich.rewards.gao import fit_bon_curve

    gold = data.bon_gold()
    proxy = proxy_rewards.reshape(gold.shape)
    proxy = proxy / (float(proxy.std()) or 1.0)
    points = bon_curve(proxy, gold, section_of(data.ctx).bon.curve, n_boot, seed)
    records = [
        BonPointRecord(
            n=p.n, kl=p.kl, sqrt_kl=p.sqrt_kl, gold=p.gold_gain,
            gold_ci=_interval(p.gold_gain_ci), proxy=p.proxy_gain,
            proxy_ci=_interval(p.proxy_gain_ci),
        )
        for p in points
    ]  # fmt: skip
    fits: list[Any] = []
    for reward in ("gold", "proxy"):
        try:
            fits.append(fit_bon_curve(points, reward))
        except ValueError:  # too few points for a fit
            fits.append(None)
    return records, fits[0], fits[1]


def correct(score_a: np.ndarray, score_b: np.ndarray, gold: np.ndarray) -> np.ndarray:
    from sandwich.rewards.pairwise import comparison_correct

    return comparison_correct(score_a, score_b, gold)


def optimisation(ctx: RunContext, data: RewardData, cell: RewardCell, student: Arrays,
                 labels: np.ndarray) -> dict[str, Any]:  # fmt: skip
    """Optimising against the student as the proxy: the best-of-n curve of T's prompts with
    its Gao fits and measured peak, RL (with an ``rl:`` block and the bt proxy) and DPO
    (with a ``dpo:`` block and the bt proxy)."""
    boot = ctx.config.bootstrap
    out: dict[str, Any] = {"bon": [], "gao_gold": None, "gao_proxy": None, "bon_peak_n": None,
                           "rl": [], "gao_rl_gold": None,
                           "dpo": [], "gao_dpo_gold": None}  # fmt: skip
    if data.bon is not None and "bon" in student:
        points, fit_g, fit_p = bon_measure(data, student["bon"], boot.n_boot, cell.seed)
        out.update(bon=points, gao_gold=_gao(fit_g), gao_proxy=_gao(fit_p),
                   bon_peak_n=max(points, key=lambda p: p.gold).n if points else None)  # fmt: skip
    if section_of(ctx).rl is not None and cell.rm == "bt" and data.gold_program is not None:
        steps = [RLStepRecord(**s) for s in policy_rl(ctx, data, cell.strong, labels)]
        out.update(rl=steps, gao_rl_gold=_rl_fit(steps))
    if section_of(ctx).dpo is not None and cell.rm == "bt" and data.gold_program is not None:
        proxy_scores = student["comparisons"]
        steps = [
            RLStepRecord(**s) for s in policy_dpo(ctx, data, cell.strong, labels, proxy_scores)
        ]
        out.update(dpo=steps, gao_dpo_gold=_rl_fit(steps))
    return out


def run_cell(
    ctx: RunContext, cell: RewardCell, timer: Callable[[], float] = time.perf_counter
) -> RewardRecord:
    """Every stage of one cell (computed or read) and its measurements on T."""
    from sandwich.rewards.pairwise import agreement_on_errors, preference_correct, reward_pgr

    start = timer()
    data = RewardData.build(ctx, cell.task, cell.policy, cell.seed)
    sup = build_pref_supervisor(cell.supervisor, ctx.generators)
    prefs = supervisor_prefs(ctx, data, sup)
    gold_b, gold_t = data.gold("train_strong"), data.gold("test")
    student = reward_model(ctx, data, cell.rm, cell.strong, prefs["train_strong"])
    ceiling = reward_model(ctx, data, cell.rm, cell.strong, gold_b)
    ra, rb = data.rows("test")
    s_a, s_b = student["comparisons"][ra], student["comparisons"][rb]
    c_a, c_b = ceiling["comparisons"][ra], ceiling["comparisons"][rb]
    boot = ctx.config.bootstrap
    m = reward_pgr(
        preference_correct(prefs["test"], gold_t),
        correct(s_a, s_b, gold_t),
        correct(c_a, c_b, gold_t),
        data.clusters("test"),
        boot.n_boot,
        cell.seed,
    )
    flags = []
    is_gold = sup.reads_gold and cell.supervisor.name == "gold"
    if is_gold:
        flags.append(FLAG_GOLD_SUPERVISOR)
    elif m.small_gap:
        flags.append(FLAG_SMALL_GAP)
    decided_b = gold_b != 0.5
    sup_acc_b = (
        float(np.nanmean(preference_correct(prefs["train_strong"], gold_b)))
        if decided_b.any()
        else None
    )
    student_pref = 1.0 / (1.0 + np.exp(-(s_a - s_b)))
    optimised = optimisation(ctx, data, cell, student, prefs["train_strong"])
    if optimised["gao_gold"] is not None and optimised["gao_gold"].peak_d is None:
        flags.append(FLAG_NO_PEAK)
    section = section_of(ctx)
    return RewardRecord(
        task=cell.task.label,
        policy=policy_label(cell.policy),
        strong=cell.strong,
        supervisor=cell.supervisor.display,
        rm=cell.rm,
        seed=cell.seed,
        n_train=len(gold_b),
        n_test=int((gold_t != 0.5).sum()),
        n_test_prompts=len(data.parts["test"].prompts),
        supervisor_acc_b=sup_acc_b,
        weak_acc=m.weak_acc,
        weak_acc_ci=_interval(m.weak_acc_ci),
        student_acc=m.student_acc,
        student_acc_ci=_interval(m.student_acc_ci),
        ceiling_acc=m.ceiling_acc,
        ceiling_acc_ci=_interval(m.ceiling_acc_ci),
        gap=m.gap,
        gap_ci=_interval(m.gap_ci),
        pgr=None if is_gold else m.pgr,
        pgr_ci=(None, None) if is_gold else _interval(m.pgr_ci),
        agreement_on_errors=agreement_on_errors(student_pref, prefs["test"], gold_t),
        **optimised,
        flags=flags,
        specs={
            "supervisor": sup.spec(),
            "rm": cell.rm,
            "bt": section.bt.model_dump(),
            "sampling": section.sampling.model_dump(),
            "comparisons": section.comparisons.model_dump(),
            "bon_n": section.bon.n,
            "gold_share": _gold_shares(data),
        },
        seconds=round(timer() - start, 3),
    )


def _rl_fit(steps: list[RLStepRecord]) -> GaoFitRecord | None:
    """Gao's RL form of the gold reward (relative to the first step) against sqrt(KL)."""
    from sandwich.rewards.gao import fit_rl

    if len(steps) < 3:
        return None
    d = np.sqrt(np.maximum([s.kl for s in steps], 0.0))
    try:
        return _gao(fit_rl(d, np.array([s.gold for s in steps]) - steps[0].gold))
    except ValueError:
        return None


def _gold_shares(data: RewardData) -> dict[str, float]:
    """How the policy's completions score under gold (the spread the comparisons rest on)."""
    golds = np.concatenate([p.golds() for p in data.full.prompts])
    golds = golds[~np.isnan(golds)]
    if not len(golds):
        return {}
    values, counts = np.unique(np.round(golds, 3), return_counts=True)
    if len(values) > 5:
        return {"mean": float(golds.mean()), "std": float(golds.std())}
    return {f"{v:g}": round(float(c) / len(golds), 4) for v, c in zip(values, counts, strict=True)}
