"""The protocol kind: every protocol x seed on each task's items, judged in both orders.

A cell's transcripts are an artifact keyed by what determines them (the
task's fingerprint and item ids, the protocol's resolved spec, the judge's and
assistant's backends with resolved params, judging and generation settings, the seed), stored
only when complete with no failed item; a run finds them there without
loading a model. Otherwise the protocol runs again and the response cache
returns every answer already generated, so only missing or failed items cost
anything. A copy goes to ``<run_dir>/transcripts/<protocol>-seed<k>.jsonl``
(``transcripts/<task>/...`` with several tasks) for readers (the report, the
feedback app).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table as RichTable

from sandwich.errors import InputFileError, required
from sandwich.models.generation.base import Generator
from sandwich.models.generation.config import LocalConfig, backend_params, generator_config
from sandwich.protocols.base import OversightProtocol
from sandwich.protocols.generators import build_generator, normalise_spec
from sandwich.protocols.judge import Judge
from sandwich.protocols.measure import aggregate_seeds, measure
from sandwich.protocols.naive import ASSISTANT_ALONE, AssistantAlone
from sandwich.protocols.registry import PROTOCOLS
from sandwich.protocols.results import FLAG_ONE_ORDER, FLAG_SMALL_GAP, Failure, ProtocolRow
from sandwich.protocols.runner import run_protocol
from sandwich.protocols.transcripts import (
    TRANSCRIPT_SCHEMA,
    TranscriptRecord,
    read_transcripts,
    write_transcripts,
)
from sandwich.registry import spec_of
from sandwich.report.page import KindReport
from sandwich.report.protocol import protocol_report, rich_table
from sandwich.results import RunResults
from sandwich.runs.config import ProtocolConfig, RunConfig, TaskConfig
from sandwich.runs.context import RunContext
from sandwich.runs.kinds import StagePlan, Summary, Work, stage_resources
from sandwich.runs.plan import ProtocolCell
from sandwich.store import ArtifactKey
from sandwich.tasks import Item
from sandwich.tasks.choices import choice_view

log = logging.getLogger(__name__)

TRANSCRIPTS_DIR = "transcripts"
_FILE = "transcripts.jsonl"  # inside the artifact


@dataclass(frozen=True)
class ProtocolOutcome:
    """A protocol cell's transcripts and where the run directory holds their copy."""

    cell: ProtocolCell
    records: list[TranscriptRecord]
    transcripts: str  # relative to the run directory


class ProtocolKind:
    """A judge alone (naive) or assisted (consultancy, debate, critique), per item."""

    name = "protocol"

    def plan(self, config: RunConfig) -> list[ProtocolCell]:
        """Per task and seed: naive first (the others are paired with it), the other
        protocols, then the assistant answering alone (when there is an assistant)."""
        protocols = sorted(config.protocols, key=lambda p: p.name != "naive")
        if config.assistant is not None:
            protocols.append(ProtocolConfig(name=ASSISTANT_ALONE))
        return [
            ProtocolCell(task=t, protocol=p, seed=seed)
            for t in config.tasks
            for seed in config.seeds
            for p in protocols
        ]

    def prepare(self, ctx: RunContext, cells: Sequence[ProtocolCell]) -> None:
        """Nothing: generators are built on first use (a resumed run needs none)."""

    def run_cell(self, ctx: RunContext, cell: ProtocolCell) -> ProtocolOutcome:
        items = _items(ctx, cell.task)
        key = transcripts_key(ctx, cell, items)
        records = _stored(ctx, key)
        if records is None:
            records = _generate(ctx, cell, items)
            if all(r.status != "failed" for r in records):
                ctx.store.get_or_build(key, lambda d: write_transcripts(d / _FILE, records))
        return ProtocolOutcome(cell, records, transcripts_path(ctx.config, cell))

    def resources(self, config: RunConfig, cell: ProtocolCell) -> dict[str, float]:
        return stage_resources(config, "generation")

    def cell_record(self, ctx: RunContext, outcome: ProtocolOutcome) -> dict[str, Any]:
        """Where the cell's transcripts are and how many items failed; the copy for readers
        is written here, by the process that owns the run directory."""
        if ctx.run_dir is not None:
            write_transcripts(ctx.run_dir / outcome.transcripts, outcome.records)
        cell = outcome.cell
        return {
            "kind": "protocol",
            "task": cell.task.label,
            "protocol": cell.protocol.display,
            "seed": cell.seed,
            "transcripts": outcome.transcripts,
            "n_records": len(outcome.records),
            "n_failed": sum(r.status == "failed" for r in outcome.records),
        }

    def summarise(self, ctx: RunContext, outcomes: Sequence[ProtocolOutcome]) -> Summary:
        n_boot = ctx.config.bootstrap.n_boot
        rows: list[ProtocolRow] = []
        failures: list[Failure] = []
        naive: dict[tuple[str, int], list[TranscriptRecord]] = {}
        for o in outcomes:  # planned naive first within each (task, seed)
            task, name, seed = o.cell.task.label, o.cell.protocol.name, o.cell.seed
            if name == "naive":
                naive.setdefault((task, seed), o.records)
            base = None if name in ("naive", ASSISTANT_ALONE) else naive.get((task, seed))
            row = measure(o.cell.protocol.display, o.records, base, seed, o.transcripts, n_boot)
            rows.append(row.model_copy(update={"task": task}))
            failures += [
                Failure(task=task, protocol=row.protocol, seed=seed, item_id=r.item_id,
                        reason=r.reason or "")
                for r in o.records
                if r.status == "failed"
            ]  # fmt: skip
        keys = dict.fromkeys((r.task, r.protocol) for r in rows)
        groups = [
            a.model_copy(update={"task": task})
            for task, protocol in keys
            if (a := aggregate_seeds([r for r in rows if (r.task, r.protocol) == (task, protocol)]))
        ]
        return Summary(
            cells=list(rows),
            groups=list(groups),
            failures=failures,
            models=_models_seen(outcomes),
            warnings=_warnings(rows, ctx.config),
        )

    def report(self, results: RunResults, run_dir: Path) -> KindReport:
        return protocol_report(results, run_dir)

    def tables(self, results: RunResults) -> list[RichTable]:
        return [rich_table(results)]

    def stages(self, ctx: RunContext, cells: Sequence[ProtocolCell]) -> list[StagePlan]:
        """Each cell's transcripts (keyed by :func:`transcripts_key`, nothing generated)
        and its measure (bootstrap, every run)."""
        out = []
        for i, cell in enumerate(cells):
            items = _items(ctx, cell.task)
            key = transcripts_key(ctx, cell, items)
            out.append(StagePlan("transcripts", i, key, _transcript_work(ctx, cell, items)))
            n_boot = ctx.config.bootstrap.n_boot
            boot = Work("bootstrap", items=len(items), params={"n_boot": n_boot})
            out.append(StagePlan("measure", i, None, (boot,), cached=False))
        return out


def _items(ctx: RunContext, task: TaskConfig) -> list[Item]:
    items = ctx.task(task).items
    return list(items[: ctx.config.max_items] if ctx.config.max_items else items)


def _protocol(cell: ProtocolCell) -> OversightProtocol:
    if cell.protocol.name == ASSISTANT_ALONE:
        return AssistantAlone()
    return PROTOCOLS.build(cell.protocol.name, **cell.protocol.params)


def _roles(protocol: OversightProtocol) -> tuple[str, str | None]:
    """(the judging model's role, the assistant's role or None); the assistant-alone
    reference is the assistant model answering itself."""
    alone = isinstance(protocol, AssistantAlone)
    return ("assistant" if alone else "judge"), ("assistant" if protocol.uses_assistant else None)


def _spec(ctx: RunContext, role: str) -> Any:
    """What identifies a role's generator (in cache keys): the caller's generator's
    description, else the configured backend's params with defaults filled in (nothing
    is built to name it; the response-cache settings change no reply)."""
    if role in ctx.generators:
        return ctx.generators[role].describe()
    cfg = generator_config(ctx.config.judge if role == "judge" else ctx.config.assistant)
    return {"backend": cfg.backend, **backend_params(cfg)}


def _generator(ctx: RunContext, role: str) -> Generator:
    spec = ctx.config.judge if role == "judge" else ctx.config.assistant
    return ctx.generators.get(role) or build_generator(required(spec, role))


def transcripts_key(ctx: RunContext, cell: ProtocolCell, items: Sequence[Item]) -> ArtifactKey:
    """The artifact key of a cell's transcripts: everything that determines them."""
    protocol = _protocol(cell)
    judge_role, assistant_role = _roles(protocol)
    inputs = {
        "task": ctx.task(cell.task).fingerprint,
        "items": [it.id for it in items],
        "protocol": s.to_dict() if (s := spec_of(protocol)) else {"name": cell.protocol.name},
        "judge": _spec(ctx, judge_role),
        "assistant": _spec(ctx, assistant_role) if assistant_role else None,
        "judging": ctx.config.judging.model_dump(mode="json"),
        "generation": ctx.config.generation.model_dump(mode="json") if assistant_role else None,
        "seed": cell.seed,
    }
    return ArtifactKey("transcripts", TRANSCRIPT_SCHEMA, inputs)


PROMPT_OVERHEAD = 80  # tokens of instructions around an item in a turn's or the judge's prompt


def _turns(protocol: OversightProtocol) -> tuple[int, int]:
    """(assistant turns per item, judge readings per item order) of a protocol: consultancy
    ``rounds``, critique 2 (answer, critique), debate 2 x ``rounds`` (twice, in both speaking
    orders, when sequential; then read twice), naive and the assistant alone none."""
    if not protocol.uses_assistant:
        return 0, 1
    hp = protocol.get_params()
    rounds = int(hp.get("rounds", 1))
    name = spec.name if (spec := spec_of(protocol)) else ""
    if name == "critique":
        return 2, 1
    if name == "debate":
        twice = hp.get("mode") == "sequential"
        return 2 * rounds * (2 if twice else 1), 2 if twice else 1
    return rounds, 1


def _transcript_work(
    ctx: RunContext, cell: ProtocolCell, items: Sequence[Item]
) -> tuple[Work, ...]:
    """What a cell's transcripts cost: the assistant's turns (generation) and the judge's
    reads in both answer orders (a forward over the prompt for log-prob verdicts, a short
    generation for text verdicts); remote backends are marked ``remote``."""
    from sandwich.runs.cost import text_tokens

    protocol = _protocol(cell)
    judge_role, assistant_role = _roles(protocol)
    n = len(items)
    views = [choice_view(it) for it in items]
    item_tok = int(text_tokens([f"{v.question} {v.choices}" for v in views]).mean()) if n else 0
    passage = int(text_tokens([v.passage or "" for v in views]).mean()) if n else 0
    turns, readings = _turns(protocol)
    cfg = ctx.config
    out = []

    def model(role: str) -> tuple[str | None, dict[str, Any]]:
        spec = cfg.judge if role == "judge" else cfg.assistant
        gen = generator_config(normalise_spec(spec)) if spec is not None else None
        if not isinstance(gen, LocalConfig):
            return None, {"remote": gen is not None and gen.backend == "openai"}
        # the protocol hands the generator batch_size items; it runs its own batch_size at once
        batch = min(cfg.batch_size, gen.batch_size)
        return gen.model, {"batch": batch, "dtype": gen.dtype}

    new = cfg.generation.max_new_tokens
    if assistant_role is not None and turns:
        m, extra = model(assistant_role)
        # the assistant reads the passage; earlier turns: half of them on average
        prompt = PROMPT_OVERHEAD + item_tok + passage + (turns - 1) * new // 2
        out.append(Work("load", m, params=extra))
        out.append(Work("generate", m, tokens=prompt, items=n * turns, new_tokens=new,
                        params={**extra, "seq": prompt}))  # fmt: skip
    m, extra = model(judge_role)
    reads = n * 2 * readings
    prompt = (
        PROMPT_OVERHEAD + item_tok + turns * new + (passage if protocol.judge_sees_passage else 0)
    )
    out.append(Work("load", m, params=extra))
    if cfg.judging.method == "text":
        reply = cfg.judging.max_new_tokens
        out.append(Work("generate", m, tokens=prompt, items=reads, new_tokens=reply,
                        params={**extra, "seq": prompt}))  # fmt: skip
    else:
        out.append(Work("forward", m, tokens=prompt * reads, items=reads,
                        params={**extra, "seq": prompt, "head": True}))  # fmt: skip
    return tuple(out)


def _stored(ctx: RunContext, key: ArtifactKey) -> list[TranscriptRecord] | None:
    found = ctx.store.lookup(key)
    if found is None:
        return None
    try:
        return read_transcripts(found / _FILE)
    except InputFileError as exc:
        log.warning("ignoring unreadable stored transcripts (%s); running again", exc)
        return None


def _generate(ctx: RunContext, cell: ProtocolCell, items: Sequence[Item]) -> list[TranscriptRecord]:
    protocol = _protocol(cell)
    judge_role, assistant_role = _roles(protocol)
    cfg = ctx.config
    judge = Judge(_generator(ctx, judge_role), cfg.judging.method, cfg.judging.max_new_tokens)
    assistant = _generator(ctx, assistant_role) if assistant_role else None
    return run_protocol(
        protocol, items, judge, assistant, cfg.generation, cell.seed, cfg.batch_size, ctx.progress
    )


def transcripts_path(config: RunConfig, cell: ProtocolCell) -> str:
    """The copy's path relative to the run directory."""
    name = f"{cell.protocol.display}-seed{cell.seed}.jsonl"
    if len(config.tasks) > 1:
        return f"{TRANSCRIPTS_DIR}/{cell.task.label}/{name}"
    return f"{TRANSCRIPTS_DIR}/{name}"


def _models_seen(outcomes: Sequence[ProtocolOutcome]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for o in (o for o in outcomes if o.records):
        if o.cell.protocol.name == ASSISTANT_ALONE:  # "judged" by the assistant model itself
            out.setdefault("assistant", o.records[0].models["judge"])
        else:
            out.update(o.records[0].models)
    return out


def _warnings(rows: Sequence[ProtocolRow], config: RunConfig) -> list[str]:
    out = []
    for r in rows:
        what = f"{r.task} | {r.protocol}" if len(config.tasks) > 1 else r.protocol
        if r.n_failed:
            out.append(f"{what} seed {r.seed}: {r.n_failed} item(s) failed (see failures); "
                       "run again to retry them")  # fmt: skip
        if r.n_unparsed:
            out.append(f"{what} seed {r.seed}: {r.n_unparsed} verdict(s) unparsed in both "
                       "orders, counted as P = 0.5")  # fmt: skip
        if r.n_one_order:
            flagged = f" (flagged {FLAG_ONE_ORDER})" if FLAG_ONE_ORDER in r.flags else ""
            out.append(
                f"{what} seed {r.seed}: {r.n_one_order} item(s) ({r.n_one_order / r.n_items:.0%})"
                " judged in one answer order only (the other unparsed): their position bias is "
                f"not cancelled{flagged}"
            )
        if FLAG_SMALL_GAP in r.flags:
            out.append(f"{what} seed {r.seed}: the 95% CI of expert - naive judge includes 0; "
                       "gap closed is not meaningful")  # fmt: skip
    n = min((r.n_items for r in rows), default=0)
    if n < config.bootstrap.min_test:
        out.append(f"only {n} items (< {config.bootstrap.min_test}): wide CIs")
    if not any(p.name == "naive" for p in config.protocols):
        out.append("no naive protocol in the config: gap closed cannot be measured")
    if len(config.seeds) == 1:
        out.append(
            "one seed: every CI is within-seed (resampling items only); seed-to-seed "
            "variation (consultancy assignment, sampling) is not in it"
        )
    return out
