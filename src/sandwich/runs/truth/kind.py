"""The ``truth`` kind: each reporter trained on one task's B split, scored on every task's T.

A lie detector in the sense of the geometry-of-truth line of work (Marks &
Tegmark 2023; Burns et al. 2022): a direction in one layer's features that
separates true from false statements. The kind measures how such a direction
*generalises*: trained on task i (gold labels of B by default, the
supervisor's weak labels with ``labels: weak``), it is scored on the T split of
every test task j (the diagonal i = j is in-distribution; T shares no group
with B, the tasks' group-aware splits). Unsupervised reporters (ccs, crc) fit
without labels and take their sign from the training labels by their declared
rule (``sign: weak`` reads the labels it is given: gold ones here unless
``labels: weak``).

Stages, each cached: the features of every (model, task) at every requested
layer (one forward pass for all layers, :mod:`sandwich.runs.truth.features`),
the supervisor's labels (``labels: weak``; the w2s stage, shared), and the
reporter's P(true) on every test task (``truth-predictions``). The metrics
(AUROC, recall at 1% / 5% FPR with a lie as the positive class, ECE, all with
bootstrap intervals) are recomputed from the predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np
from rich.table import Table as RichTable

from sandwich.elicit import ELICITORS, ElicitorBase
from sandwich.errors import ConfigError, SandwichError
from sandwich.metrics.calibration import ece_ci
from sandwich.metrics.detection import auroc_ci, recall_at_fpr
from sandwich.models import load_model
from sandwich.report.page import KindReport
from sandwich.results import RunResults
from sandwich.runs.config import RunConfig, TaskConfig
from sandwich.runs.context import RunContext
from sandwich.runs.kinds import StagePlan, Summary, Work, stage_resources
from sandwich.runs.truth.features import extract_layers, layer_key, layer_table
from sandwich.runs.truth.schema import EVERY, ScoreCI, TestScore, TruthCell, TruthRecord
from sandwich.runs.truth.schema import TruthSection as Section
from sandwich.store import ArtifactKey
from sandwich.tasks import Item, Task
from sandwich.tasks.contrast import contrast_texts

PREDICTIONS_VERSION = 1


def resolve_layer(num_layers: int, layer: float | int) -> int:
    """A depth fraction (as ``features.layer``: ``max(1, round(f * L))``) or a block index
    (negative from the end) as a block index in 1..L."""
    if isinstance(layer, float):
        return max(1, round(layer * num_layers))
    idx = layer + num_layers + 1 if layer < 0 else layer
    if not 1 <= idx <= num_layers:
        raise ValueError(f"layer {layer} is out of range (1..{num_layers}, or -1..-{num_layers})")
    return idx


def model_layers(section: Section, config: RunConfig, num_layers: int) -> tuple[list[int], int]:
    """(the sorted block indices to sweep, the matrix's block) for a model of ``num_layers``."""
    if section.layers == "all":
        layers = list(range(1, num_layers + 1))
    elif isinstance(section.layers, str):
        m = EVERY.match(section.layers)
        if m is None:  # the section's validator refuses it first; a section built by hand
            raise ConfigError(f"truth.layers: {section.layers!r} is not 'all', 'every k' or a list")
        layers = list(range(int(m.group(1)), num_layers + 1, int(m.group(1))))
    else:
        layers = [resolve_layer(num_layers, x) for x in section.layers]
    chosen = section.layer if section.layer is not None else config.features.layer
    matrix = resolve_layer(num_layers, chosen)
    return sorted({*layers, matrix}), matrix


def task_lists(config: RunConfig, section: Section) -> tuple[list[TaskConfig], list[TaskConfig]]:
    """(train tasks, test tasks): the named ones, or all the config's tasks."""

    def pick(names: list[str] | None) -> list[TaskConfig]:
        return [t for t in config.tasks if names is None or t.label in names]

    return pick(section.train_tasks), pick(section.test_tasks)


def _reads(
    ctx: RunContext, model: str, task: Task, max_length: int, contrast: bool
) -> tuple[int, int]:
    """(texts, tokens) the model reads for ``task``'s features or its contrast pairs (a
    decoder reads a pair's shared start once, :func:`sandwich.runs.cost.pair_tokens`)."""
    from sandwich.runs.cost import model_arch, pair_tokens, text_tokens

    if not contrast:
        return len(task.items), int(np.minimum(text_tokens(task.texts()), max_length).sum())
    try:
        causal = model_arch(model, ctx.store).causal
    except (SandwichError, ValueError):
        causal = True
    pos, neg = contrast_texts(task.items)
    return 2 * len(task.items), pair_tokens(pos, neg, max_length, causal)


def build_reporter(cell: TruthCell) -> ElicitorBase:
    reporter: ElicitorBase = ELICITORS.build(cell.reporter.name, **cell.reporter.params)
    return reporter


def _score(value: float | None, ci: Any = None) -> ScoreCI:
    if ci is None:
        return ScoreCI(value=value)
    return ScoreCI(value=value, low=float(ci[0]), high=float(ci[1]))


def score_test(task: str, y: np.ndarray, p: np.ndarray, n_boot: int, seed: int,
               n_bins: int) -> TestScore:  # fmt: skip
    """A reporter's P(true) ``p`` on one test set with gold ``y`` (1 = true): accuracy, and
    with a lie (a false statement) as the positive class and ``1 - p`` as its score, AUROC and
    recall at 1% / 5% FPR; ECE of ``p``; all with bootstrap intervals (undefined: None)."""
    accuracy = float(np.mean((p > 0.5) == (y > 0.5)))
    cal = ece_ci(y, p, n_bins=n_bins, n_boot=n_boot, seed=seed)
    reliability = [(b.confidence, b.accuracy, b.n) for b in cal.bins]
    ece = _score(cal.ece, cal.ci)
    lie, suspicion = 1.0 - y, 1.0 - p
    if len(set(y.tolist())) < 2:  # one class: no detection metric is defined
        none = ScoreCI(value=None)
        return TestScore(task=task, n=len(y), accuracy=accuracy, auroc=none, recall_fpr01=none,
                         recall_fpr05=none, ece=ece, reliability=reliability)  # fmt: skip
    auc = auroc_ci(lie, suspicion, n_boot, seed)
    r01, r05 = (recall_at_fpr(lie, suspicion, f, n_boot, seed) for f in (0.01, 0.05))
    return TestScore(task=task, n=len(y), accuracy=accuracy, auroc=_score(auc.auroc, auc.ci),
                     recall_fpr01=_score(r01.recall, r01.ci),
                     recall_fpr05=_score(r05.recall, r05.ci), ece=ece,
                     reliability=reliability)  # fmt: skip


class TruthKind:
    """Lie-detector generalisation: a train-task x test-task matrix per model, reporter, layer."""

    name = "truth"

    def plan(self, config: RunConfig) -> list[TruthCell]:
        """Cells ordered model, layer, train task, seed, reporter (cells sharing features
        stay together). Layers are resolved per model (``all``, fractions): its depth is
        read from the model's config, no weights are loaded."""
        section: Section = config.section("truth")
        train, tests = task_lists(config, section)
        cells = []
        for model in section.models:
            num_layers = load_model(model).num_layers
            layers, matrix = model_layers(section, config, num_layers)
            for layer in layers:
                for task in train:
                    for seed in config.seeds:
                        for reporter in section.reporters:
                            cells.append(TruthCell(
                                model=model, layer=layer, depth=layer / num_layers,
                                matrix=layer == matrix,
                                reporter=reporter, train=task, tests=tests, seed=seed,
                                labels=section.labels, supervisor=section.supervisor,
                            ))  # fmt: skip
        return cells

    def _needs(self, cells: Sequence[TruthCell]) -> tuple[bool, ...]:
        """Which features the reporters read: plain (False) and/or contrast pairs (True)."""
        contrast = {build_reporter(c).needs_contrast for c in cells}
        return tuple(sorted(contrast))

    def prepare(self, ctx: RunContext, cells: Sequence[TruthCell]) -> None:
        """Every (model, task)'s features at all its cells' layers: one forward pass each,
        one model in memory at a time."""
        kinds = self._needs(cells)
        for model in dict.fromkeys(c.model for c in cells):
            mine = [c for c in cells if c.model == model]
            layers = sorted({c.layer for c in mine})
            tasks = {t.model_dump_json(): t for c in mine for t in [c.train, *c.tests]}
            loaded = ctx.features.model(model)
            for task_cfg in tasks.values():
                extract_layers(ctx.store, loaded, ctx.task(task_cfg), ctx.config.features,
                               layers, kinds)  # fmt: skip
            ctx.features.release(model)

    def _inputs(self, ctx: RunContext, cell: TruthCell, task: Task, items: Sequence[Item],
                contrast: bool) -> np.ndarray:  # fmt: skip
        model = ctx.features.model(cell.model)
        arrays = layer_table(ctx.store, model, task, ctx.config.features, cell.layer, contrast)
        rows = {it.id: i for i, it in enumerate(task.items)}
        idx = [rows[it.id] for it in items]
        return np.hstack([arrays["pos"][idx], arrays["neg"][idx]]) if contrast else arrays["x"][idx]

    def _labels(self, ctx: RunContext, cell: TruthCell) -> np.ndarray:
        """B's training labels: gold, or the supervisor's (fit on A; the w2s stage, cached)."""
        task, splits = ctx.task(cell.train), ctx.splits(cell.train, cell.seed)
        if cell.labels == "gold" or cell.supervisor is None:
            return task.labels(splits.train_strong).astype(np.float64)
        from sandwich.runs.w2s.data import CellData, build_supervisor
        from sandwich.runs.w2s.stages import supervisor_labels

        data = CellData(ctx, cast(Any, cell), task, splits, cell.model, cell.seed, ctx.progress)
        out: np.ndarray = supervisor_labels(ctx, data, build_supervisor(cell.supervisor))[
            "train_strong"
        ]
        return out.astype(np.float64)

    def predictions_key(self, ctx: RunContext, cell: TruthCell, y: np.ndarray) -> ArtifactKey:
        """What the predictions depend on: the splits, the features read, the labels, the
        reporter's spec."""
        from sandwich.runs.w2s.stages import spec_key

        reporter = build_reporter(cell)
        model = ctx.features.model(cell.model)
        cfg = ctx.config.features

        def feats(t: TaskConfig) -> str:
            return layer_key(model, ctx.task(t), cfg, cell.layer, reporter.needs_contrast).hex

        split = asdict(ctx.config.split)
        inputs = {
            "seed": cell.seed, "split": split,
            "train": [ctx.task(cell.train).fingerprint, feats(cell.train)],
            "tests": [[ctx.task(t).fingerprint, feats(t)] for t in cell.tests],
            "labels": ArtifactKey("labels-ref", 1, {"b": y}).hex,
            "reporter": spec_key(reporter),
        }  # fmt: skip
        return ArtifactKey("truth-predictions", PREDICTIONS_VERSION, inputs)

    def run_cell(self, ctx: RunContext, cell: TruthCell) -> TruthRecord:
        task, splits = ctx.task(cell.train), ctx.splits(cell.train, cell.seed)
        y = self._labels(ctx, cell)
        reporter = build_reporter(cell)
        contrast = reporter.needs_contrast

        def compute() -> dict[str, np.ndarray]:
            x = self._inputs(ctx, cell, task, splits.train_strong, contrast)
            reporter.fit(x, y, random_state=cell.seed)  # type: ignore[attr-defined]
            out = {}
            for i, t in enumerate(cell.tests):
                test = ctx.splits(t, cell.seed).test
                xt = self._inputs(ctx, cell, ctx.task(t), test, contrast)
                out[f"p{i}"] = reporter.predict_proba(xt)  # type: ignore[attr-defined]
            return out

        preds = ctx.store.arrays(self.predictions_key(ctx, cell, y), compute)
        section: Section = ctx.config.section("truth")
        n_boot = ctx.config.bootstrap.n_boot
        scores = []
        for i, t in enumerate(cell.tests):
            gold = ctx.task(t).labels(ctx.splits(t, cell.seed).test).astype(np.float64)
            scores.append(score_test(t.label, gold, preds[f"p{i}"], n_boot, cell.seed,
                                     section.n_bins))  # fmt: skip
        gold_b = task.labels(splits.train_strong).astype(np.float64)
        agreement = float(np.mean((y > 0.5) == (gold_b > 0.5))) if cell.labels == "weak" else None
        return TruthRecord(model=cell.model, layer=cell.layer, depth=cell.depth, matrix=cell.matrix,
                           reporter=cell.reporter.display, train=cell.train.label,
                           seed=cell.seed, labels=cell.labels, train_agreement=agreement,
                           scores=scores)  # fmt: skip

    def resources(self, config: RunConfig, cell: TruthCell) -> dict[str, float]:
        return stage_resources(config, "probe")

    def cell_record(self, ctx: RunContext, outcome: TruthRecord) -> dict[str, Any]:
        return outcome.model_dump(mode="json")

    def summarise(self, ctx: RunContext, outcomes: Sequence[TruthRecord]) -> Summary:
        return Summary(cells=list(outcomes), warnings=self._warnings(ctx, outcomes))

    def _warnings(self, ctx: RunContext, outcomes: Sequence[TruthRecord]) -> list[str]:
        """Statements shared between tasks (a test item seen in training), small test sets,
        and weak labels near chance."""
        out = []
        tasks = [(t.label, {it.text for it in ctx.task(t).items}) for t in ctx.config.tasks]
        for i, (a, ta) in enumerate(tasks):
            for b, tb in tasks[i + 1 :]:
                if shared := len(ta & tb):
                    out.append(f"truth: tasks {a} and {b} share {shared} statements: their "
                               "off-diagonal cells are not fully out of distribution")  # fmt: skip
        small = sorted({s.task for o in outcomes for s in o.scores
                        if s.n < ctx.config.bootstrap.min_test})  # fmt: skip
        if small:
            out.append(f"truth: fewer than {ctx.config.bootstrap.min_test} test items on "
                       f"{', '.join(small)}: wide intervals")  # fmt: skip
        return out

    def report(self, results: RunResults, run_dir: Path) -> KindReport:
        from sandwich.runs.truth.report import truth_report

        return truth_report(results, run_dir)

    def tables(self, results: RunResults) -> list[RichTable]:
        from sandwich.runs.truth.report import truth_tables

        return truth_tables(results)

    def stages(self, ctx: RunContext, cells: Sequence[TruthCell]) -> list[StagePlan]:
        """Features per (model, task, layer) (shared; the forward pass of a (model, task) is
        one, for all its layers: its cost is on the deepest layer's stage), then each cell's
        predictions (their key depends on the labels' content: known for gold, unknown until
        the weak labels exist)."""
        from sandwich.runs.cost import feature_params

        out: list[StagePlan] = []
        cfg = ctx.config.features
        for model_name in dict.fromkeys(c.model for c in cells):
            mine = [c for c in cells if c.model == model_name]
            model = ctx.features.model(model_name)
            depths = {c.layer: c.depth for c in mine}
            tasks = {t.model_dump_json(): t for c in mine for t in [c.train, *c.tests]}
            for task_cfg in tasks.values():
                task = ctx.task(task_cfg)
                for contrast in self._needs(mine):
                    n_texts, tokens = _reads(ctx, model_name, task, cfg.max_length, contrast)
                    deepest = max(depths)
                    for layer in sorted(depths):
                        work: tuple[Work, ...] = ()
                        if layer == deepest:  # the one pass, up to the deepest layer
                            params = feature_params(cfg, max(1, tokens // n_texts))
                            work = (Work("load", model_name),
                                    Work("forward", model_name, tokens=tokens, items=n_texts,
                                         depth=depths[layer], params=params))  # fmt: skip
                        key = layer_key(model, task, cfg, layer, contrast)
                        stage = "contrast-features" if contrast else "features"
                        out.append(StagePlan(stage, None, key, work, models=(model_name,)))
        for i, c in enumerate(cells):
            work = _cell_work(ctx, c)
            if c.labels == "gold":
                key = self.predictions_key(ctx, c, self._labels(ctx, c))
                out.append(StagePlan("truth", i, key, work))
            else:
                out.append(StagePlan("truth", i, None, work, unknown="the weak labels"))
            n_boot = ctx.config.bootstrap.n_boot
            detect = tuple(Work("detect", items=len(ctx.splits(t, c.seed).test),
                                params={"n_boot": n_boot}) for t in c.tests)  # fmt: skip
            out.append(StagePlan("measure", i, None, detect, cached=False))
        return out


def _cell_work(ctx: RunContext, cell: TruthCell) -> tuple[Work, ...]:
    """A cell's predictions: its layer's stored features of the train task and of every test
    task read back (each a whole table: the generalisation matrix reads every task's), the
    reporter's fit on B by what its solver does (:func:`sandwich.runs.cost.reporter_work`),
    its predictions (a product per test item: not costed)."""
    from sandwich.runs.cost import reporter_work

    reporter = build_reporter(cell)
    dim = ctx.features.model(cell.model).hidden_size
    halves = 2 if reporter.needs_contrast else 1
    tables = [cell.train, *cell.tests]
    nbytes = sum(len(ctx.task(t).items) for t in tables) * dim * halves * 4  # float32
    n = len(ctx.splits(cell.train, cell.seed).train_strong)
    return (Work("read", items=len(tables), params={"bytes": nbytes}),
            *reporter_work(reporter, n, dim))  # fmt: skip
