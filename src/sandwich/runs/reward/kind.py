"""The ``reward`` kind as the engine sees it: plan, prepare, run, summarise, report, stages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table as RichTable

from sandwich.errors import SandwichError
from sandwich.report.page import KindReport
from sandwich.report.rows import rich
from sandwich.results import RunResults
from sandwich.rewards.data import PreferenceSet
from sandwich.rewards.supervisors import build_pref_supervisor
from sandwich.runs.config import RunConfig
from sandwich.runs.context import RunContext
from sandwich.runs.cost import text_tokens
from sandwich.runs.kinds import StagePlan, Summary, Work, stage_resources
from sandwich.runs.reward.cell import (
    RewardData,
    completions_key,
    load_prompts,
    prefs_key,
    rm_key,
    run_cell,
    section_of,
)
from sandwich.runs.reward.report import records, reward_report, table
from sandwich.runs.reward.schema import (
    FLAG_SMALL_GAP,
    RewardCell,
    RewardRecord,
    RewardSection,
    policy_label,
)
from sandwich.store import ArtifactKey


class RewardKind:
    """Reward models on each supervisor's preferences: pairwise PGR and best-of-n."""

    name = "reward"

    def plan(self, config: RunConfig) -> list[RewardCell]:
        """Ordered seed, strong, supervisor, reward model: cells sharing samples together."""
        s: RewardSection = config.section(self.name)
        return [
            RewardCell(
                task=s.task, policy=s.policy, strong=strong, supervisor=sup, rm=rm, seed=seed
            )
            for seed in config.seeds
            for strong in s.strong
            for sup in s.supervisors
            for rm in s.reward_models
        ]

    def prepare(self, ctx: RunContext, cells: Sequence[RewardCell]) -> None:
        """The policy's samples of each seed, then the features every cell reads (one model
        in memory at a time)."""
        section = section_of(ctx)
        weak = [
            m
            for s in section.supervisors
            for m in build_pref_supervisor(s, ctx.generators).feature_models()
        ]
        for seed in dict.fromkeys(c.seed for c in cells):
            data = RewardData.build(ctx, section.task, section.policy, seed)
            for model in dict.fromkeys([*section.strong, *weak]):
                data.features(model)
                if model in section.strong and data.bon is not None:
                    data.features(model, "bon")
                ctx.features.release(model)

    def run_cell(self, ctx: RunContext, cell: RewardCell) -> RewardRecord:
        return run_cell(ctx, cell)

    def resources(self, config: RunConfig, cell: RewardCell) -> dict[str, float]:
        return stage_resources(config, "finetune" if cell.rm == "finetuned" else "probe")

    def cell_record(self, ctx: RunContext, outcome: RewardRecord) -> dict[str, Any]:
        return outcome.model_dump(mode="json")

    def summarise(self, ctx: RunContext, outcomes: Sequence[RewardRecord]) -> Summary:
        warnings = [
            f"reward: {o.task} | {o.strong} {o.rm} | {o.supervisor} | seed {o.seed}: the "
            f"ceiling is not significantly above the supervisor (gap {o.gap:.3f}): PGR is "
            "unreliable"
            for o in outcomes
            if FLAG_SMALL_GAP in o.flags
        ]
        return Summary(cells=list(outcomes), warnings=warnings)

    def report(self, results: RunResults, run_dir: Path) -> KindReport:
        return reward_report(results, run_dir)

    def tables(self, results: RunResults) -> list[RichTable]:
        return [rich(table(records(results)), "reward models on weak preferences")]

    def stages(self, ctx: RunContext, cells: Sequence[RewardCell]) -> list[StagePlan]:
        """Shared: the samples and features of each seed; per cell: the supervisor's
        preferences, the reward model (and its ceiling), the bootstrap."""
        out: list[StagePlan] = []
        for seed in dict.fromkeys(c.seed for c in cells):
            mine = [(i, c) for i, c in enumerate(cells) if c.seed == seed]
            out += _seed_stages(ctx, seed, mine)
        return out


def _stored(ctx: RunContext, key: ArtifactKey | None) -> bool:
    return key is not None and ctx.store.lookup(key) is not None


def _generate(policy: dict[str, Any], prompts: Sequence[Any], n: int, new: int) -> Work:
    """``n`` samples of each prompt: ``tokens`` is a sequence's prompt length (the mean)."""
    lengths = text_tokens([p.prompt for p in prompts])
    mean = round(float(lengths.mean())) if len(lengths) else 0
    return Work("generate", policy_label(policy), tokens=mean, items=len(prompts) * n,
                new_tokens=new)  # fmt: skip


def _seed_stages(
    ctx: RunContext, seed: int, cells: list[tuple[int, RewardCell]]
) -> list[StagePlan]:
    section = section_of(ctx)
    task, policy = section.task, section.policy
    prompts, gold = load_prompts(task)
    out: list[StagePlan] = []
    new = section.sampling.max_new_tokens
    if gold is not None:
        test = PreferenceSet(prompts, task.label).split(seed, ctx.config.split)["test"].prompts
        n, nb = section.comparisons.samples, section.bon.n
        ckey = completions_key(
            task, policy, n, "comparisons", section, seed, [p.id for p in prompts]
        )
        bkey = completions_key(task, policy, nb, "bon", section, seed, [p.id for p in test])
        out += [
            StagePlan("completions", None, ckey, (_generate(policy, prompts, n, new),)),
            StagePlan("bon-completions", None, bkey, (_generate(policy, test, nb, new),)),
        ]
        ready = _stored(ctx, ckey) and _stored(ctx, bkey)
    else:
        ready = True
        test = ()
    data = RewardData.build(ctx, task, policy, seed) if ready else None
    why = None if ready else "its key holds the policy's samples, which are not stored yet"
    samples = section.comparisons.samples if gold is not None else 2
    sets = {"comparisons": (prompts, samples), "bon": (test, section.bon.n)}
    weak = {c.supervisor.model for _, c in cells if c.supervisor.model}
    for model in dict.fromkeys([*section.strong, *sorted(weak)]):
        for which in (
            ("comparisons", "bon") if model in section.strong and test else ("comparisons",)
        ):
            these, k = sets[which]
            pset = None if data is None else (data.full if which == "comparisons" else data.bon)
            key = None if pset is None else ctx.features.key(model, data.task_of(pset))  # type: ignore[union-attr]
            tokens = (int(text_tokens([p.prompt for p in these]).sum()) + len(these) * new) * k
            out.append(
                StagePlan(
                    "features",
                    None,
                    key,
                    (Work("forward", model, tokens=tokens, items=len(these) * k),),
                    why,
                )
            )
    n_boot = ctx.config.bootstrap.n_boot
    for i, cell in cells:
        out += _cell_stages(ctx, data, i, cell, n_boot, why)
    return out


def _cell_stages(
    ctx: RunContext, data: RewardData | None, i: int, cell: RewardCell, n_boot: int, why: str | None
) -> list[StagePlan]:
    sup = build_pref_supervisor(cell.supervisor, ctx.generators)
    pkey = rkey = gkey = None
    unknown = why
    n_b = n_t = 0
    if data is not None:
        n_b, n_t = len(data.comparisons["train_strong"]), len(data.comparisons["test"])
        try:
            pkey = prefs_key(data, sup)
            gkey = rm_key(data, cell.rm, cell.strong, data.gold("train_strong"))
            if ctx.store.lookup(pkey) is not None:
                labels = ctx.store.arrays(pkey, dict)["train_strong"]
                rkey = rm_key(data, cell.rm, cell.strong, labels)
            else:
                unknown = "its key holds the supervisor's preferences, which are not stored yet"
        except (SandwichError, OSError, ValueError) as exc:
            unknown = f"key unknown: {exc}"
    dim = 576
    fit = (
        Work("train", cell.strong, items=n_b, params={"mode": "lora"})
        if cell.rm == "finetuned"
        else Work("probe", items=2 * n_b, params={"dim": dim})
    )
    return [
        StagePlan("preferences", i, pkey, (Work("items", items=n_b + n_t),), why),
        StagePlan(
            "reward-model",
            i,
            rkey,
            (fit,),
            None if rkey else unknown,
            models=(cell.strong,) if cell.rm == "finetuned" else (),
        ),
        StagePlan(
            "ceiling",
            i,
            gkey,
            (fit,),
            None if gkey else why,
            models=(cell.strong,) if cell.rm == "finetuned" else (),
        ),
        StagePlan(
            "measure",
            i,
            None,
            (Work("bootstrap", items=max(1, n_t), params={"n_boot": n_boot}),),
            cached=False,
        ),
    ]
