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
from sandwich.rewards.supervisors import GoldPreferences, build_pref_supervisor
from sandwich.runs.config import RunConfig
from sandwich.runs.context import RunContext
from sandwich.runs.cost import feature_depth, feature_params, model_width, text_tokens
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


def _load(policy: dict[str, Any]) -> Work:
    """Loading the policy before it samples (and converting it, on a cold store)."""
    remote = policy.get("backend", "local") != "local"
    return Work("load", None if remote else policy_label(policy))


def _generate(policy: dict[str, Any], prompts: Sequence[Any], n: int, new: int) -> Work:
    """``n`` samples of each prompt: ``tokens`` is a sequence's prompt length (the mean);
    a local policy decodes its ``batch_size`` sequences together (a remote one is not
    timed here)."""
    from sandwich.models.generation.config import LocalConfig, generator_config
    from sandwich.protocols.generators import normalise_spec

    lengths = text_tokens([p.prompt for p in prompts])
    mean = round(float(lengths.mean())) if len(lengths) else 0
    gen = generator_config(normalise_spec(policy))
    params: dict[str, Any] = (
        {"batch": gen.batch_size, "dtype": gen.dtype}
        if isinstance(gen, LocalConfig)
        else {"remote": gen.backend == "openai"}
    )
    return Work("generate", policy_label(policy), tokens=mean, items=len(prompts) * n,
                new_tokens=new, params=params)  # fmt: skip


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
            StagePlan(
                "completions",
                None,
                ckey,
                (_load(policy), _generate(policy, prompts, n, new)),
            ),
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
            work = _feature_work(ctx, model, these, k, new)
            out.append(StagePlan("features", None, key, work, why, models=(model,)))
    counts = _comparison_counts(ctx, prompts, samples, seed)
    counts["bon_prompts"] = len(test)  # none without a gold program (no best-of-n set)
    counts["completions"] = len(prompts) * samples
    counts["bon_completions"] = len(test) * (section.bon.n if gold is not None else 0)
    # the stored samples: each completion's text (at most ``new`` tokens of about 4
    # characters) and gold, in JSON (about 16 characters more)
    counts["sample_bytes"] = (counts["completions"] + counts["bon_completions"]) * (4 * new + 16)
    ceilings: set[tuple[str, str]] = set()  # (strong, rm): one ceiling per seed, the first cell's
    for i, cell in cells:
        stages = _cell_stages(ctx, data, i, cell, counts, why)
        if (cell.strong, cell.rm) in ceilings:
            stages = [_later_ceiling(st) if st.stage == "ceiling" else st for st in stages]
        ceilings.add((cell.strong, cell.rm))
        out += stages
    return out


def _later_ceiling(st: StagePlan) -> StagePlan:
    """A later cell's ceiling: the same fit on B's gold as the first cell's, read from the
    store (with its key known, the planner marks it shared; unknown on a cold store, it
    costs nothing here rather than a second fit)."""
    if st.key is not None:
        return st
    return StagePlan("ceiling", st.cell, None, (), "fit by an earlier cell (the same gold labels)")


def _feature_work(
    ctx: RunContext, model: str, prompts: Sequence[Any], k: int, new: int
) -> tuple[Work, ...]:
    """Features of ``k`` completions of each prompt (prompt + at most ``new`` tokens), as
    the features service reads them: the model loaded (converted on a cold store), then
    a forward pass that stops at ``features.layer``, in its batches."""
    cfg = ctx.config.features
    tokens = (int(text_tokens([p.prompt for p in prompts]).sum()) + len(prompts) * new) * k
    items = len(prompts) * k
    depth = feature_depth(cfg.layer, model, ctx.store)
    params = feature_params(cfg, max(1, tokens // max(1, items)))
    return (
        Work("load", model),
        Work("forward", model, tokens=tokens, items=items, depth=depth, params=params),
    )


def _comparison_counts(
    ctx: RunContext, prompts: Sequence[Any], samples: int, seed: int
) -> dict[str, int]:
    """Comparisons per split (A, B, T), from the prompts' split alone (it does
    not depend on the samples, so a cold store knows them): ``per_prompt`` of each prompt's
    ``samples (samples - 1) / 2`` pairs."""
    section = section_of(ctx)
    pairs = samples * (samples - 1) // 2
    per = min(pairs, section.comparisons.per_prompt or pairs)
    parts = PreferenceSet(list(prompts), section.task.label).split(seed, ctx.config.split)
    return {name: len(part.prompts) * per for name, part in parts.items()}


def _bt_fit(model: str | None, ctx: RunContext, comparisons: int, soft: bool = True) -> Work:
    """One Bradley-Terry fit (:class:`~sandwich.rewards.bradley_terry.BradleyTerryHead`): an
    lbfgs fit (no C search) on the comparisons' feature differences of ``model``'s hidden
    size, at the Bradley-Terry unit measured for hard or ``soft`` labels (soft ones enter
    as four rows per comparison, hard ones two, and take more iterations)."""
    params = {"solver": "bt", "dim": model_width(model, ctx.store), "soft": soft}
    return Work("fit", items=comparisons, params=params)


def _table_reads(ctx: RunContext, counts: dict[str, int], models: Sequence[str],
                 sets: int) -> Work:  # fmt: skip
    """Reading ``models``' stored features of every completion of the comparison set (and,
    with ``sets`` 2, of the best-of-n set), as a cell's stages do (float32 tables)."""
    rows = counts["completions"] + (counts["bon_completions"] if sets > 1 else 0)
    nbytes = sum(rows * model_width(m, ctx.store) * 4 for m in models)
    return Work("read", items=len(models) * sets, params={"bytes": nbytes})


def _cell_stages(
    ctx: RunContext,
    data: RewardData | None,
    i: int,
    cell: RewardCell,
    counts: dict[str, int],
    why: str | None,
) -> list[StagePlan]:
    """The supervisor's preferences (a BT head fit on A for a feature-reading one), the reward
    model and its ceiling (BT heads on B), and the measures: the PGR bootstrap over T's
    comparisons and the best-of-n curve's bootstrap over T's prompts."""
    sup = build_pref_supervisor(cell.supervisor, ctx.generators)
    pkey = rkey = gkey = None
    unknown = why
    n_a, n_b, n_t = counts["train_weak"], counts["train_strong"], counts["test"]
    if data is not None:
        n_a, n_b = len(data.comparisons["train_weak"]), len(data.comparisons["train_strong"])
        n_t = len(data.comparisons["test"])
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
    sets = 2 if counts["bon_prompts"] else 1
    reads = _table_reads(ctx, counts, [cell.strong], sets)
    ceiling = (
        Work("train", cell.strong, items=n_b, params={"mode": "lora"})
        if cell.rm == "finetuned"
        else _bt_fit(cell.strong, ctx, n_b, soft=GoldPreferences.soft_labels)
    )
    fit: tuple[Work, ...] = (
        ceiling if cell.rm == "finetuned" else _bt_fit(cell.strong, ctx, n_b, sup.soft_labels),
    )
    if isinstance(sup, GoldPreferences):  # the reward model on gold is the ceiling: fit once
        fit = ()
    # the samples read back (both sets' texts), the weak models' features, A's fits
    samples = Work("read", items=sets, params={"bytes": counts["sample_bytes"]})
    prefs = (samples, Work("items", items=n_b + n_t),
             *([_table_reads(ctx, counts, sup.feature_models(), 1)] if sup.feature_models()
               else []),
             *(_bt_fit(m, ctx, n_a, GoldPreferences.soft_labels)
               for m in sup.feature_models()))  # fmt: skip
    n_boot = ctx.config.bootstrap.n_boot
    measure = [Work("bootstrap", items=max(1, n_t), params={"n_boot": n_boot})]
    if counts["bon_prompts"]:  # the best-of-n curve: one bootstrap over T's prompts
        measure.append(Work("bootstrap", items=counts["bon_prompts"], params={"n_boot": n_boot}))
    models = (cell.strong,) if cell.rm == "finetuned" else ()
    return [
        StagePlan("preferences", i, pkey, prefs, why),
        StagePlan("reward-model", i, rkey, (reads, *fit), None if rkey else unknown, models=models),
        StagePlan("ceiling", i, gkey, (reads, ceiling), None if gkey else why, models=models),
        StagePlan("measure", i, None, tuple(measure), cached=False),
    ]
