"""Run a protocol config: every protocol x seed on the task's items; results.json + report.

Layout of the run directory (``<runs>/<name>-<config hash>/``): ``config.yaml``,
``transcripts/<protocol>-seed<k>.jsonl``, ``results.json``, ``report.md``,
``report.html``. Resuming: a transcripts file already complete for this
config (every item present, none failed) is reused without loading a model;
otherwise the protocol runs again and the response cache returns every
response already generated, so only missing or failed items cost anything.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandwich import __version__
from sandwich.errors import ConfigError, InputFileError, required
from sandwich.models.generation.base import Generator
from sandwich.protocols.config import ProtocolRunConfig
from sandwich.protocols.generators import build_generator
from sandwich.protocols.judge import Judge
from sandwich.protocols.measure import aggregate_seeds, measure
from sandwich.protocols.naive import ASSISTANT_ALONE, AssistantAlone
from sandwich.protocols.registry import PROTOCOLS
from sandwich.protocols.results import (
    FLAG_ONE_ORDER,
    FLAG_SMALL_GAP,
    Failure,
    ProtocolResults,
    ProtocolRow,
)
from sandwich.protocols.runner import run_protocol
from sandwich.protocols.transcripts import TranscriptRecord, read_transcripts, write_transcripts
from sandwich.store import atomic_write_text
from sandwich.store.hashing import digest
from sandwich.tasks import Task, load_task

log = logging.getLogger(__name__)
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class ProtocolRunOutput:
    results: ProtocolResults
    run_dir: Path
    transcripts: dict[tuple[str, int], list[TranscriptRecord]]


class _Models:
    """Judge and assistant generators, built on first use (a resumed run may need none)."""

    def __init__(self, config: ProtocolRunConfig, given: dict[str, Generator] | None) -> None:
        self.config = config
        self.built: dict[str, Generator] = dict(given or {})

    def get(self, role: str) -> Generator:
        if role not in self.built:
            spec = required(
                self.config.judge if role == "judge" else self.config.assistant, f"{role} config"
            )
            other = "assistant" if role == "judge" else "judge"
            other_spec = self.config.assistant if role == "judge" else self.config.judge
            if other in self.built and spec == other_spec:
                self.built[role] = self.built[other]  # one model in memory when both are the same
            else:
                self.built[role] = build_generator(spec)
        return self.built[role]


def load_items(config: ProtocolRunConfig) -> Task:
    t = config.task
    try:
        return load_task(
            name=t.name, path=t.path, hf=t.hf, n_items=t.n_items, seed=t.seed, params=dict(t.params)
        )
    except ConfigError as exc:
        raise ConfigError(f"task: {exc}") from None


def _saved_config(path: Path) -> Any:
    """The config a run directory was last run with (None if absent or unreadable)."""
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def _reusable(path: Path, ids: list[str]) -> list[TranscriptRecord] | None:
    if not path.is_file():
        return None
    try:
        records = read_transcripts(path)
    except InputFileError as exc:
        log.warning("ignoring unreadable transcripts (%s); running again", exc)
        return None
    if [r.item_id for r in records] != ids or any(r.status == "failed" for r in records):
        return None
    return records


def run_protocols(
    config: ProtocolRunConfig,
    *,
    runs_root: Path | str = "runs",
    run_id: str | None = None,
    generators: dict[str, Generator] | None = None,
    progress: bool = True,
) -> ProtocolRunOutput:
    """Run every protocol and seed of ``config``; ``generators`` overrides judge/assistant."""
    task = load_items(config)  # bad task parameters fail before any write
    items = task.items[: config.max_items] if config.max_items else task.items
    ids = [it.id for it in items]
    config_json = config.model_dump(mode="json")
    run_dir = Path(runs_root) / (run_id or f"{config.name}-{digest(config_json)[:8]}")
    (run_dir / "transcripts").mkdir(parents=True, exist_ok=True)
    # transcripts are reused only if they were written for this very config (a --run-id
    # directory may hold an earlier, different one); the response cache still serves
    same_config = _saved_config(run_dir / "config.yaml") == config_json
    if not same_config and (run_dir / "config.yaml").exists():
        log.info("%s holds a run of another config: its transcripts are not reused", run_dir)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config_json, sort_keys=False))
    models = _Models(config, generators)
    judge_kw = config.judging
    jobs = _jobs(config)
    rows: list[ProtocolRow] = []
    failures: list[Failure] = []
    done: dict[tuple[str, int], list[TranscriptRecord]] = {}
    for seed in config.seeds:
        naive: list[TranscriptRecord] | None = None
        for display, name, params in jobs:
            rel = f"transcripts/{display}-seed{seed}.jsonl"
            records = _reusable(run_dir / rel, ids) if same_config else None
            if records is None:
                alone = name == ASSISTANT_ALONE
                protocol = AssistantAlone() if alone else PROTOCOLS.build(name, **params)
                # the assistant-alone reference is the assistant model answering itself
                judge_gen = models.get("assistant" if alone else "judge")
                judge = Judge(judge_gen, judge_kw.method, judge_kw.max_new_tokens)
                assistant = models.get("assistant") if protocol.uses_assistant else None
                records = run_protocol(
                    protocol,
                    items,
                    judge,
                    assistant,
                    config.generation,
                    seed,
                    config.batch_size,
                    progress,
                )
                write_transcripts(run_dir / rel, records)
            done[(display, seed)] = records
            if name == "naive" and naive is None:
                naive = records
            base = None if name in ("naive", ASSISTANT_ALONE) else naive
            rows.append(measure(display, records, base, seed, rel, config.bootstrap.n_boot))
            failures += [
                Failure(protocol=display, seed=seed, item_id=r.item_id, reason=r.reason or "")
                for r in records
                if r.status == "failed"
            ]
    aggregates = [
        a
        for display, _, _ in jobs
        if (a := aggregate_seeds([r for r in rows if r.protocol == display])) is not None
    ]
    results = ProtocolResults(
        sandwich_version=__version__,
        run_id=run_dir.name,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        config=config_json,
        models=_models_seen(done),
        rows=rows,
        aggregates=aggregates,
        failures=failures,
        warnings=_warnings(rows, config),
    )
    atomic_write_text(run_dir / RESULTS_FILE, results.model_dump_json(indent=2))
    from sandwich.protocols.report import write_protocol_report

    write_protocol_report(results, run_dir, done)
    return ProtocolRunOutput(results, run_dir, done)


def _jobs(config: ProtocolRunConfig) -> list[tuple[str, str, dict[str, Any]]]:
    """(display name, protocol name, params) in run order: naive first, the other
    protocols, then the assistant-alone reference (when there is an assistant)."""
    ps = sorted(config.protocols, key=lambda p: p.name != "naive")
    out = [(p.display, p.name, dict(p.params)) for p in ps]
    if config.assistant is not None:
        out.append((ASSISTANT_ALONE, ASSISTANT_ALONE, {}))
    return out


def _models_seen(done: dict[tuple[str, int], list[TranscriptRecord]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for (display, _), records in done.items():
        if not records:
            continue
        if display == ASSISTANT_ALONE:  # "judged" by the assistant model itself
            out.setdefault("assistant", records[0].models["judge"])
        else:
            out.update(records[0].models)
    return out


def _warnings(rows: list[ProtocolRow], config: ProtocolRunConfig) -> list[str]:
    out = []
    for r in rows:
        if r.n_failed:
            out.append(
                f"{r.protocol} seed {r.seed}: {r.n_failed} item(s) failed (see failures); "
                "run again to retry them"
            )
        if r.n_unparsed:
            out.append(
                f"{r.protocol} seed {r.seed}: {r.n_unparsed} verdict(s) unparsed in both "
                "orders, counted as P = 0.5"
            )
        if r.n_one_order:
            share = r.n_one_order / r.n_items
            out.append(
                f"{r.protocol} seed {r.seed}: {r.n_one_order} item(s) ({share:.0%}) judged in "
                "one answer order only (the other unparsed): their position bias is not "
                "cancelled" + (f" (flagged {FLAG_ONE_ORDER})" if FLAG_ONE_ORDER in r.flags else "")
            )
        if FLAG_SMALL_GAP in r.flags:
            out.append(
                f"{r.protocol} seed {r.seed}: the 95% CI of expert - naive judge includes 0; "
                "gap closed is not meaningful"
            )
    if rows and rows[0].n_items < config.bootstrap.min_test:
        out.append(f"only {rows[0].n_items} items (< {config.bootstrap.min_test}): wide CIs")
    if not any(p.name == "naive" for p in config.protocols):
        out.append("no naive protocol in the config: gap closed cannot be measured")
    if len(config.seeds) == 1:
        out.append(
            "one seed: every CI is within-seed (resampling items only); seed-to-seed "
            "variation (consultancy assignment, sampling) is not in it"
        )
    return out


def load_protocol_results(run_dir: Path | str) -> ProtocolResults:
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: no results.json here; is {run_dir} a protocol run directory?")
    try:
        return ProtocolResults.model_validate_json(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path}: not a protocol results file: {exc}") from None
