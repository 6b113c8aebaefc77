"""The stages of w2s cells as ``sandwich plan`` lists them: keys and cost inputs, nothing run.

Keys come from the functions the stages themselves use
(:func:`~sandwich.runs.w2s.stages.labels_key`, :func:`~sandwich.runs.w2s.stages.trained_key`,
:meth:`~sandwich.runs.features.TaskFeatures.key`), so a stage the plan calls stored
is the one a run would find. The student's key holds the *content* of the
supervisor's labels: until they are stored it cannot be known, and the student
is missing by construction. Models are constructed (names, fingerprints), never
loaded; the sizes the costs need come from their configs (:func:`sandwich.runs.cost.model_arch`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sandwich.elicit import ELICITORS, ElicitorBase
from sandwich.errors import SandwichError
from sandwich.runs.context import RunContext
from sandwich.runs.cost import (
    SPECIAL_TOKENS,
    feature_depth,
    feature_params,
    model_arch,
    model_width,
    pair_tokens,
    reporter_work,
    text_tokens,
)
from sandwich.runs.kinds import StagePlan, Work
from sandwich.runs.plan import W2SCell
from sandwich.runs.w2s.data import (
    CellData,
    Split,
    build_supervisor,
    contrast_jobs,
    feature_jobs,
)
from sandwich.runs.w2s.stages import labels_key, trained_key
from sandwich.store import ArtifactKey
from sandwich.supervision import Supervisor
from sandwich.tasks import Task
from sandwich.tasks.contrast import contrast_texts


def _try(build: Callable[[], ArtifactKey]) -> tuple[ArtifactKey | None, str | None]:
    """The key, or (None, why) when a model or input it names is not available here."""
    try:
        return build(), None
    except (SandwichError, OSError, ValueError) as exc:
        return None, f"key unknown: {exc}"


@dataclass
class _PlanData(CellData):
    """A cell's data for planning: the parts of keys that many cells share (features keys,
    model fingerprints, the split's part) computed once per planner, by CellData's own code."""

    memo: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def _once(self, key: tuple[str, ...], compute: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def split_key(self) -> dict[str, Any]:
        return dict(self._once(("split", self.task.fingerprint, str(self.seed)), super().split_key))

    def features_key(self, model: str) -> str:
        fp = self.task.fingerprint
        return str(
            self._once(("features", model, fp), lambda: super(_PlanData, self).features_key(model))
        )

    def fingerprint(self, model: str) -> str:
        return str(self._once(("model", model), lambda: super(_PlanData, self).fingerprint(model)))


class _Planner:
    """Caches what many cells share (tasks' token counts, components, stored labels)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._tokens: dict[str, dict[str, int]] = {}
        self._components: dict[str, Any] = {}
        self._labels: dict[str, np.ndarray | None] = {}
        self._dims: dict[str, int] = {}
        self.memo: dict[tuple[str, ...], Any] = {}

    def data(self, cell: W2SCell) -> CellData:
        ctx = self.ctx
        task, splits = ctx.task(cell.task), ctx.splits(cell.task, cell.seed)
        return _PlanData(ctx, cell, task, splits, cell.strong, cell.seed, False, self.memo)

    def tokens(self, task: Task, items: Sequence[Any], max_length: int) -> int:
        if task.fingerprint not in self._tokens:
            counts = text_tokens(task.texts())
            self._tokens[task.fingerprint] = {
                it.id: int(c) for it, c in zip(task.items, counts, strict=True)
            }
        table = self._tokens[task.fingerprint]
        return sum(min(table[it.id], max_length) for it in items)

    def component(self, what: str, cfg: Any, build: Callable[[], Any]) -> Any:
        key = f"{what}:{cfg.model_dump_json()}"
        if key not in self._components:
            self._components[key] = build()
        return self._components[key]

    def dim(self, model: str) -> int:
        if model not in self._dims:
            self._dims[model] = model_width(model, self.ctx.store)
        return self._dims[model]

    def stored_labels(self, key: ArtifactKey) -> np.ndarray | None:
        """B's labels of a stored labels artifact (read once), None if not stored."""
        if key.hex not in self._labels:
            found = self.ctx.store.lookup(key)
            if found is None:
                self._labels[key.hex] = None
            else:
                with np.load(found / "arrays.npz", allow_pickle=False) as data:
                    self._labels[key.hex] = data["train_strong"]
        return self._labels[key.hex]


def _text_work(
    pl: _Planner, data: CellData, models: Sequence[str], hp: dict[str, Any], fit: Split,
    predict: Sequence[Split],
) -> tuple[Work, ...]:  # fmt: skip
    """Fine-tuning ``models`` in turn on ``fit`` (a chain labels the next link's data), then
    predicting ``predict`` with the last: each training loads its weights."""
    max_len = int(hp.get("max_length", 64))

    def tok(split: Split) -> int:
        return pl.tokens(data.task, data.items(split), max_len)

    n_fit = len(data.items(fit))
    seq = max(1, tok(fit) // max(1, n_fit))
    mb_param = hp.get("minibatch_size", "auto")  # auto: as many of a step's items as fit
    mb = int(hp.get("batch_size", 32) if mb_param == "auto" else mb_param)
    train_params = {k: hp.get(k) for k in ("mode", "top_k", "lora_r", "gradient_checkpointing")}
    out: list[Work] = []
    val = 0.0 if hp.get("select") == "last" else float(hp.get("val_fraction", 0.2))
    for i, m in enumerate(models):
        last = i == len(models) - 1
        out.append(Work("load", m, params={"fresh": True}))  # training reads a fresh copy
        n_train = round(n_fit * (1 - val))
        out.append(Work("train", m, tokens=round(tok(fit) * (1 - val)), items=n_train,
                        passes=float(hp.get("epochs", 2)),
                        params={**train_params, "seq": seq, "batch": mb,
                                "step_items": int(hp.get("batch_size", 32))}))  # fmt: skip
        if val:  # selection: the held-out part scored evals_per_epoch times per epoch
            evals = int(hp.get("epochs", 2)) * int(hp.get("evals_per_epoch", 2))
            out.append(Work("forward", m, tokens=round(tok(fit) * val) * evals,
                            params={"seq": seq, "batch": mb}))  # fmt: skip
        splits = predict if last else [fit, *predict]
        for s in splits:
            out.append(Work("forward", m, tokens=tok(s), items=len(data.items(s)),
                            params={"seq": seq, "batch": mb}))  # fmt: skip
    return tuple(out)


def _supervisor_work(pl: _Planner, data: CellData, sup: Supervisor) -> tuple[Work, ...]:
    if trained := sup.trained_models():  # a fine-tuned weak model
        hp = dict(sup.get_params().get("elicitor_params") or {})
        return _text_work(pl, data, trained, hp, "train_weak", ("train_strong", "test"))
    n_a = len(data.items("train_weak"))
    n_pred = len(data.items("train_strong")) + len(data.items("test"))
    if feats := sup.feature_models():
        dim = sum(pl.dim(m) for m in feats)
        hp = sup.get_params().get("elicitor_params") or {}
        n_fits = len(hp.get("Cs", (0.001, 0.01, 0.1, 1.0))) + 1
        return (Work("probe", items=n_a, params={"dim": dim, "n_fits": n_fits}),
                Work("items", items=n_pred))  # fmt: skip
    return (Work("items", items=n_a + n_pred),)


def _elicitor_work(pl: _Planner, data: CellData, elicitor: ElicitorBase) -> tuple[Work, ...]:
    if elicitor.inputs == "text":
        hp = elicitor.get_params()
        return _text_work(pl, data, [*elicitor.chain_models(), data.strong], hp,
                          "train_strong", ("test",))  # fmt: skip
    if elicitor.get_params().get("predictor") == "in-context":
        return icm_context_work(data, elicitor)
    return reporter_work(elicitor, len(data.items("train_strong")), pl.dim(data.strong))


# ICM in context: the share of proposals on an already labelled claim that change its label
# (and so cost an evaluation of U): a predictor near chance, as small models are on their own
# claims (BENCHMARKS.md "In-context ICM on smollm2-135m": 10 of 40 proposals accepted)
CHANGE_SHARE = 0.5


def icm_search_prompts(claims: int, initial: int, iterations: int) -> tuple[float, float]:
    """(prompts, demonstrations in them) an in-context ICM search scores, in expectation:
    the first U of ``initial`` labelled claims, then per proposal (a claim drawn uniformly)
    an unlabelled claim's prompt and, as it always changes, an evaluation of U with it
    labelled; a labelled claim's prompt is the last evaluation's (memoised), and it changes
    with :data:`CHANGE_SHARE`. An evaluation of ``l`` labelled claims asks each with the
    ``l - 1`` others as demonstrations: ``l`` prompts, ``l (l - 1)`` demonstrations."""
    labelled = float(min(initial, claims))
    prompts, demos = labelled, labelled * (labelled - 1)
    for _ in range(iterations):
        new = (claims - labelled) / claims  # the chance the proposal is an unlabelled claim
        after = labelled + 1
        prompts += new * (1 + after) + (1 - new) * CHANGE_SHARE * labelled
        demos += new * (labelled + after * labelled)
        demos += (1 - new) * CHANGE_SHARE * labelled * (labelled - 1)
        labelled += new
    return prompts, demos


def icm_context_work(data: CellData, elicitor: ElicitorBase) -> tuple[Work, ...]:
    """``icm`` with ``predictor: in-context``: its prompts through the generator's
    ``score_choices`` (each prompt read twice, once per choice, the LM head at every
    token): the search's (:func:`icm_search_prompts`) over B's claims and T's many-shot
    prompts (at most ``max_demos`` demonstrations). A remote generator's time is the
    server's: its tokens are counted, its time not estimated."""
    from sandwich.elicit.reporters.icm_context import DEMO, QUESTION
    from sandwich.models.generation.config import generator_config
    from sandwich.models.generation.spec import normalise_spec

    hp = elicitor.get_params()
    texts = data.texts("train_strong")
    claims = min(int(hp["max_items"]), len(texts))
    demo = float(np.mean(text_tokens([DEMO.format(text=t, label="False") for t in texts])))
    question = float(np.mean(text_tokens([QUESTION.format(text=t) for t in texts])))
    prompts, demos = icm_search_prompts(claims, int(hp["initial"]), int(hp["iterations"]))
    n_test = len(data.items("test"))
    prompts += n_test
    demos += n_test * min(int(hp["max_demos"]), claims)
    gen = generator_config(normalise_spec(hp["generator"] or data.strong))
    return icm_prompt_work(gen, prompts, demos, demo, question)


def icm_prompt_work(
    gen: Any, prompts: float, demos: float, demo: float, question: float
) -> tuple[Work, ...]:
    """``prompts`` of ``question`` tokens (the claim asked about, with its BOS) holding
    ``demos`` demonstrations of ``demo`` tokens in all, scored by ``score_choices`` on the
    generator ``gen`` (a :class:`~sandwich.models.generation.config.GeneratorConfig`): each
    prompt read twice, once per one-token choice, with the LM head at every token; the
    model loaded first. A remote generator's forward is counted, not timed."""
    from sandwich.models.generation.config import LocalConfig

    tokens = 2 * round(prompts * (question + 1) + demos * (demo - SPECIAL_TOKENS))
    rows = 2 * round(prompts)
    if not isinstance(gen, LocalConfig):
        remote: dict[str, Any] = {"remote": gen.backend == "openai"}
        return (Work("forward", None, tokens=tokens, items=rows, params=remote),)
    seq = max(1, tokens // max(1, rows))
    params: dict[str, Any] = {"head": True, "seq": seq, "batch": gen.batch_size,
                              "dtype": gen.dtype}  # fmt: skip
    return (Work("load", gen.model),
            Work("forward", gen.model, tokens=tokens, items=rows, params=params))  # fmt: skip


def feature_stages(ctx: RunContext, pl: _Planner) -> list[StagePlan]:
    """The (task, model) features the cells read (and contrast-pair features, for reporters
    that need them): shared, computed in ``prepare``."""
    out = []
    cfg = ctx.config.features
    contrast = contrast_jobs(ctx.config)
    for task_cfg, model in feature_jobs(ctx.config):
        task = ctx.task(task_cfg)
        key, unknown = _try(lambda: ctx.features.key(model, task))  # noqa: B023
        tokens = pl.tokens(task, task.items, cfg.max_length)
        depth = feature_depth(cfg.layer, model, ctx.store)
        seq = max(1, tokens // max(1, len(task.items)))
        work = (Work("load", model),
                Work("forward", model, tokens=tokens, items=len(task.items), depth=depth,
                     params=feature_params(cfg, seq)))  # fmt: skip
        out.append(StagePlan("features", None, key, work, unknown, models=(model,)))
        if (task_cfg, model) in contrast:  # both halves of every item (a shared start once)
            ckey, cunknown = _try(lambda: ctx.features.contrast_key(model, task))  # noqa: B023
            pos, neg = contrast_texts(task.items)
            ctokens = pair_tokens(pos, neg, cfg.max_length, _causal(pl, model))
            cseq = max(1, ctokens // max(1, 2 * len(task.items)))
            cwork = (Work("forward", model, tokens=ctokens, items=2 * len(task.items), depth=depth,
                          params=feature_params(cfg, cseq)),)  # fmt: skip
            out.append(StagePlan("contrast-features", None, ckey, cwork, cunknown, models=(model,)))
    return out


def _causal(pl: _Planner, model: str) -> bool:
    try:
        return model_arch(model, pl.ctx.store).causal
    except (SandwichError, ValueError):
        return True


def w2s_stages(ctx: RunContext, cells: Sequence[W2SCell]) -> list[StagePlan]:
    """Features (shared), then per cell: labels, ceiling, predictions, measure."""
    pl = _Planner(ctx)
    out = feature_stages(ctx, pl)
    n_boot = ctx.config.bootstrap.n_boot
    group_items: dict[tuple[str, str, str, str], int] = {}
    for i, cell in enumerate(cells):
        data = pl.data(cell)
        sup = pl.component("sup", cell.weak, lambda: build_supervisor(cell.weak))  # noqa: B023
        elicitor: ElicitorBase = pl.component(
            "elicitor", cell.elicitor,
            lambda: ELICITORS.build(cell.elicitor.name, **cell.elicitor.params),  # noqa: B023
        )  # fmt: skip
        ceiling = pl.component("ceiling", cell.elicitor, elicitor.ceiling)
        lkey, lwhy = _try(lambda: labels_key(data, sup))  # noqa: B023
        sup_models = tuple(sup.trained_models())
        out.append(StagePlan("labels", i, lkey, _supervisor_work(pl, data, sup), lwhy,
                             models=sup_models))  # fmt: skip
        gold = data.gold("train_strong")
        ckey, cwhy = _try(lambda: trained_key(data, "ceiling", ceiling, gold))  # noqa: B023
        text_models = (data.strong,) if elicitor.inputs == "text" else ()
        out.append(StagePlan("ceiling", i, ckey, _elicitor_work(pl, data, ceiling), cwhy,
                             models=text_models))  # fmt: skip
        y_b = pl.stored_labels(lkey) if lkey is not None else None
        pkey: ArtifactKey | None
        pwhy: str | None
        if y_b is None:
            pkey, pwhy = None, "its key holds the supervisor's labels, which are not stored yet"
        else:
            pkey, pwhy = _try(lambda: trained_key(data, "predictions", elicitor, y_b))  # noqa: B023
        out.append(StagePlan("predictions", i, pkey, _elicitor_work(pl, data, elicitor), pwhy,
                             models=text_models))  # fmt: skip
        n_test = len(data.items("test"))
        group = (cell.task.label, cell.weak.display, cell.strong, cell.elicitor.display)
        group_items[group] = group_items.get(group, 0) + n_test
        out.append(StagePlan("measure", i, None,
                             (Work("bootstrap", items=n_test, params={"n_boot": n_boot}),),
                             cached=False))  # fmt: skip
    # the run's summary: each group's intervals over seeds (the same bootstrap per item)
    boots = tuple(
        Work("bootstrap", items=n, params={"n_boot": n_boot}) for n in group_items.values()
    )
    out.append(StagePlan("summarise", None, None, boots, cached=False))
    return out
