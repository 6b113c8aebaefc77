"""A protocol run end to end on the fake backend (the engine's protocol kind): files,
report, resume through the store, failures, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandwich.cli import main
from sandwich.errors import ConfigError
from sandwich.metrics.replicates import mean_ci, ratio_ci
from sandwich.models.generation import (
    CachedGenerator,
    FakeGenerator,
    GenRequest,
    ResponseCache,
    default_cache_path,
)
from sandwich.protocols import read_transcripts
from sandwich.runs import load_config, load_results, parse_config, run
from sandwich.runs.context import RunContext
from sandwich.runs.protocol import ProtocolKind, transcripts_key
from sandwich.store import ArtifactStore
from sandwich.tasks import load_task
from sandwich.tasks.choices import choice_view

BASE: dict[str, Any] = {
    "name": "t",
    "task": {"name": "dossier", "n_items": 20, "seed": 1},
    "judge": {"backend": "fake", "model": "judge"},
    "assistant": {"backend": "fake", "model": "helper"},
    "protocols": ["naive", "consultancy", {"name": "debate", "params": {"rounds": 2}}, "critique"],
    "bootstrap": {"n_boot": 100},
}


def _config(**over: Any):  # type: ignore[no-untyped-def]
    return parse_config({**BASE, **over})


def test_run_writes_results_transcripts_and_report(tmp_path: Path) -> None:
    out = run(_config(), runs_root=tmp_path, progress=False)
    res = load_results(out.run_dir)
    names = ["naive", "consultancy", "debate", "critique", "assistant-alone"]
    assert [r.protocol for r in res.protocol_rows()] == names
    for row in res.protocol_rows():
        recs = read_transcripts(out.run_dir / row.transcripts)
        assert len(recs) == row.n_items == 20
        judge = "helper" if row.protocol == "assistant-alone" else "judge"
        assert all(r.models["judge"]["model"] == judge for r in recs)
        assert row.accuracy is not None and row.accuracy_ci is not None
        assert row.ece is not None and row.brier is not None
        assert (row.gap_closed is None) == (row.protocol in ("naive", "assistant-alone"))
    debate = read_transcripts(out.run_dir / res.protocol_rows()[2].transcripts)
    assert all(len(r.turns) == 4 and all(t.cache_key for t in r.turns) for r in debate)
    assert all(len(r.judgements) == 4 and j.cache_key for r in debate for j in r.judgements)
    cons = res.protocol_rows()[1]
    assert cons.consultant_right_accuracy is not None and cons.consultant_wrong_accuracy is not None
    md = (out.run_dir / "report.md").read_text()
    assert "## Judge accuracy" in md and "gap closed" in md and "### debate" in md
    assert "Consultancy by the consultant's side" in md
    assert "## Position bias" in md and "right spoke first" in md
    assert all(r.position_n == 20 for r in res.protocol_rows())
    assert [r.speaking_n is not None for r in res.protocol_rows()] == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert "<table>" in (out.run_dir / "report.html").read_text()


def test_second_run_loads_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run(_config(), runs_root=tmp_path, progress=False)

    def refuse(spec: object) -> None:
        raise AssertionError("a complete run must not build a generator")

    monkeypatch.setattr("sandwich.runs.protocol.build_generator", refuse)
    again = run(_config(), runs_root=tmp_path, progress=False)
    assert [r.accuracy for r in again.results.protocol_rows()] == [
        r.accuracy for r in first.results.protocol_rows()
    ]


def _cached(model: str) -> tuple[FakeGenerator, CachedGenerator]:
    inner = FakeGenerator(model=model)
    return inner, CachedGenerator(inner, ResponseCache(default_cache_path()))


def test_killed_run_regenerates_nothing(tmp_path: Path) -> None:
    """A run killed before its transcripts were stored gets every answer from the cache."""
    store = ArtifactStore(tmp_path / "store")
    first = run(_config(), runs_root=tmp_path, store=store, progress=False)
    shutil.rmtree(store.root / "artifacts" / "transcripts")
    for f in (first.run_dir / "transcripts").iterdir():
        f.unlink()
    (judge_inner, judge), (helper_inner, helper) = _cached("judge"), _cached("helper")
    again = run(
        _config(),
        runs_root=tmp_path,
        store=store,
        generators={"judge": judge, "assistant": helper},
        progress=False,
    )
    assert judge_inner.calls == [] and helper_inner.calls == []
    assert judge.hits > 0 and helper.hits > 0
    accs = [r.accuracy for r in again.results.protocol_rows()]
    assert accs == [r.accuracy for r in first.results.protocol_rows()]


def test_transcripts_are_reused_from_the_store_by_what_determines_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run directory (another name, say) finds the transcripts in the store
    without building a model; another protocol parameter or seed runs again."""
    store = ArtifactStore(tmp_path / "store")
    cfg = _config(protocols=["naive", {"name": "debate", "params": {"rounds": 1}}])
    first = run(cfg, runs_root=tmp_path, run_id="a", store=store, progress=False)

    def refuse(spec: object) -> None:
        raise AssertionError("stored transcripts must not build a generator")

    with monkeypatch.context() as m:
        m.setattr("sandwich.runs.protocol.build_generator", refuse)
        renamed = _config(name="other", protocols=cfg.document()["protocols"])
        again = run(renamed, runs_root=tmp_path, store=store, progress=False)
    assert again.run_dir != first.run_dir
    assert again.results.protocol_rows() == first.results.protocol_rows()
    stored = store.root / "artifacts" / "transcripts"
    assert len(list(stored.glob("*/*"))) == 3  # naive, debate, assistant-alone
    two = _config(protocols=["naive", {"name": "debate", "params": {"rounds": 2}}])
    run(two, runs_root=tmp_path, store=store, progress=False)
    assert len(list(stored.glob("*/*"))) == 4  # only the debate is new
    run(_config(protocols=["naive"], seeds=[1]), runs_root=tmp_path, store=store, progress=False)
    assert len(list(stored.glob("*/*"))) == 6  # naive and assistant-alone on seed 1


class _Flaky(FakeGenerator):
    """Fails every request about one question while ``broken`` (like a server returning 500)."""

    def __init__(self, needle: str) -> None:
        super().__init__(model="helper")
        self.needle, self.broken = needle, True

    def generate(self, requests):  # type: ignore[no-untyped-def]
        self.fail_on = (self.needle,) if self.broken else ()
        return super().generate(requests)

    def describe(self) -> dict[str, Any]:
        return {"backend": "fake", "model": "flaky-helper"}


def test_failed_items_are_reported_and_retried_alone(tmp_path: Path) -> None:
    cfg = _config(protocols=["naive", "debate"])
    task_items = load_task(name="dossier", n_items=20, seed=1)
    question = task_items.items[3].metadata["question"]
    flaky = _Flaky(question)
    helper = CachedGenerator(flaky, ResponseCache(default_cache_path()))
    out = run(cfg, runs_root=tmp_path, generators={"assistant": helper}, progress=False)
    (fail,) = out.results.failures
    assert fail.item_id == task_items.items[3].id and "scripted failure" in fail.reason
    assert any("failed" in w for w in out.results.warnings)
    debate = out.results.protocol_rows()[1]
    assert debate.protocol == "debate"
    assert (debate.n_failed, debate.n_scored, "failed" in debate.flags) == (1, 19, True)

    flaky.broken = False
    flaky.calls.clear()
    again = run(cfg, runs_root=tmp_path, generators={"assistant": helper}, progress=False)
    assert again.results.failures == []
    retried = {c.messages[-1].content for c in flaky.calls if isinstance(c, GenRequest)}
    assert retried and all(question in m for m in retried)  # only the failed item was redone


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"protocols": ["debat"]},
            "protocols.0.name: unknown protocol 'debat'. Did you mean 'debate'",
        ),
        (
            {"protocols": [{"name": "debate", "params": {"rounds": 0}}]},
            "protocols.0.params: rounds: Input should be greater than or equal to 1",
        ),
        ({"assistant": None}, "protocols.1: 'consultancy' needs an assistant"),
        ({"judge": {"backend": "openai", "model": "m"}}, "judge.*base_url"),
        ({"judge": "no-such-model"}, "judge.model: unknown model"),
        ({"task": {"name": "dosier"}}, "tasks.0.name: unknown task 'dosier'"),
        ({"generation": {"max_new_tokens": 0}}, "generation.max_new_tokens"),
        ({"protocols": ["naive", "naive"]}, "appears twice"),
    ],
)
def test_bad_configs_name_the_field(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(**over)


def test_shipped_protocol_configs_are_valid() -> None:
    root = Path(__file__).parents[2] / "configs"
    for name in ("debate-demo.yaml", "debate-openai.yaml"):
        load_config(root / name)


def test_cli_run_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump({**BASE, "protocols": ["naive", "consultancy"]}))
    assert main(["protocols", "run", str(cfg), "--runs", str(tmp_path / "runs"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "judge accuracy" in out and "consultancy" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert main(["protocols", "report", str(run_dir)]) == 0
    assert main(["report", str(run_dir)]) == 0
    assert "judge accuracy" in capsys.readouterr().out
    assert main(["run", str(cfg), "--runs", str(tmp_path / "runs"), "-q"]) == 0  # the same run
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "protocols": ["debat"]}))
    assert main(["protocols", "run", str(bad), "--runs", str(tmp_path / "r2")]) == 2
    assert not (tmp_path / "r2").exists()


def test_corrupt_transcripts_are_detected_and_rebuilt(tmp_path: Path) -> None:
    first = run(_config(protocols=["naive"]), runs_root=tmp_path, progress=False)
    path = first.run_dir / first.results.protocol_rows()[0].transcripts
    lines = path.read_text().splitlines()
    path.write_text(
        "\n".join([lines[0], '{"schema_version": 1, "protocol": 3}', *lines[2:]]) + "\n"
    )
    with pytest.raises(ConfigError, match=rf"{path.name}:2: not a transcript record"):
        read_transcripts(path)
    again = run(_config(protocols=["naive"]), runs_root=tmp_path, progress=False)
    assert len(read_transcripts(path)) == 20
    assert again.results.protocol_rows()[0].accuracy == first.results.protocol_rows()[0].accuracy


def test_report_escapes_model_text(tmp_path: Path) -> None:
    helper = FakeGenerator(model="helper", default="<script>alert(1)</script> | pipe")
    out = run(
        _config(protocols=["naive", "consultancy"]),
        runs_root=tmp_path,
        generators={"assistant": helper},
        progress=False,
    )
    page = (out.run_dir / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "\\| pipe" in (out.run_dir / "report.md").read_text()


def test_max_items_judges_the_first_items_only(tmp_path: Path) -> None:
    out = run(_config(protocols=["naive"], max_items=5), runs_root=tmp_path, progress=False)
    row, alone = out.results.protocol_rows()
    assert alone.protocol == "assistant-alone" and alone.n_items == 5
    ids = [r.item_id for r in read_transcripts(out.run_dir / row.transcripts)]
    first = load_task(name="dossier", n_items=20, seed=1)
    assert row.n_items == 5 and ids == [it.id for it in first.items[:5]]


def test_a_run_id_holding_another_config_reuses_no_transcripts(tmp_path: Path) -> None:
    first = _config(protocols=["naive", {"name": "debate", "params": {"rounds": 2}}])
    run(first, runs_root=tmp_path, run_id="same", progress=False)
    again = run(
        _config(protocols=["naive", {"name": "debate", "params": {"rounds": 1}}]),
        runs_root=tmp_path,
        run_id="same",
        progress=False,
    )
    debate = read_transcripts(again.run_dir / "transcripts" / "debate-seed0.jsonl")
    assert all(len(r.turns) == 2 for r in debate)  # rounds 1, not the stale rounds-2 file
    assert again.results.protocol_rows()[1].params["rounds"] == 1


def test_malformed_protocol_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\nprotocols: [naive\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+:\d+: malformed YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")


def test_assistant_alone_reads_the_passage_and_is_reported(tmp_path: Path) -> None:
    judge, helper = FakeGenerator(model="judge"), FakeGenerator(model="helper")
    out = run(
        _config(protocols=["naive"]),
        runs_root=tmp_path,
        generators={"judge": judge, "assistant": helper},
        progress=False,
    )
    _, alone = out.results.protocol_rows()
    assert alone.protocol == "assistant-alone" and alone.accuracy is not None
    models = out.results.models  # the run's judge stays the judge
    assert (models["judge"]["model"], models["assistant"]["model"]) == ("judge", "helper")
    passages = {
        choice_view(it).passage for it in load_task(name="dossier", n_items=20, seed=1).items
    }
    seen = [c.messages[-1].content for c in helper.calls]
    assert len(seen) == 40 and all(any(p and p in s for p in passages) for s in seen)
    assert not any(p and p in c.messages[-1].content for c in judge.calls for p in passages)
    md = (out.run_dir / "report.md").read_text()
    assert "the assistant model answering directly with the passage" in md
    assert f"scores {alone.accuracy:.3f} (seed 0)" in md
    assert any("within-seed" in w for w in out.results.warnings)
    assert out.results.protocol_aggregates() == []  # one seed: nothing to aggregate


def test_seeds_are_aggregated_as_replicates(tmp_path: Path) -> None:
    out = run(
        _config(protocols=["naive", "consultancy"], seeds=[0, 1, 2]),
        runs_root=tmp_path,
        progress=False,
    )
    res = out.results
    assert [a.protocol for a in res.protocol_aggregates()] == [
        "naive",
        "consultancy",
        "assistant-alone",
    ]
    cons = res.protocol_aggregates()[1]
    rows = [r for r in res.protocol_rows() if r.protocol == "consultancy"]
    assert [r.seed for r in rows] == cons.seeds == [0, 1, 2] and cons.k == 3
    assert cons.flags == ["few_seeds"]
    accs = [r.accuracy for r in rows]
    assert len(set(accs)) > 1  # the consultancy assignment differs by seed
    m = mean_ci([a for a in accs if a is not None])
    assert cons.accuracy == pytest.approx(m.mean) and cons.accuracy_ci == pytest.approx(
        (m.low, m.high)
    )
    q = ratio_ci(
        [r.protocol_accuracy_paired - r.naive_accuracy_paired for r in rows],  # type: ignore[operator]
        [r.gap for r in rows],  # type: ignore[misc]
    )
    assert cons.gap_closed == pytest.approx(q.ratio) and cons.gap_closed_bounded == q.bounded
    assert res.protocol_aggregates()[0].gap_closed is None  # naive has no gap closed
    md = (out.run_dir / "report.md").read_text()
    assert "## Over seeds" in md and "few_seeds" in md and "Fieller" in md


def test_one_order_items_are_warned_about(tmp_path: Path) -> None:
    items = load_task(name="dossier", n_items=20, seed=1).items
    rules = {}
    for it in items[:3]:
        v = choice_view(it)
        rules[f"A: {v.choices[1]}\nB: {v.choices[0]}"] = "no idea"
    judge = FakeGenerator(model="judge", rules=rules, default="A", can_score=False)
    out = run(
        _config(protocols=["naive"], judging={"method": "text"}),
        runs_root=tmp_path,
        generators={"judge": judge},
        progress=False,
    )
    row = out.results.protocol_rows()[0]
    assert row.n_one_order == 3 and "one_order" in row.flags
    assert any("3 item(s) (15%) judged in one answer order only" in w for w in out.results.warnings)
    assert "| one order |" in (out.run_dir / "report.md").read_text()


def _keys(tmp_path: Path, **over: Any) -> list[str]:
    """The transcript keys of a config's cells, without running anything."""
    ctx = RunContext(_config(**over), ArtifactStore(tmp_path / "store"), progress=False)
    return [
        transcripts_key(ctx, c, ctx.task(c.task).items).hex for c in ProtocolKind().plan(ctx.config)
    ]


def test_transcript_keys_hold_params_as_resolved_not_as_written(tmp_path: Path) -> None:
    """Writing out a protocol's or a generator's default keeps every transcript key;
    changing one changes the key of exactly the cells it affects."""
    base = _keys(tmp_path, protocols=["naive", "debate"])  # naive, debate, assistant-alone
    written = {"name": "debate", "params": {"rounds": 1, "mode": "simultaneous"}}
    judge = {**BASE["judge"], "can_score": True, "fail_on": [], "default": None}
    assistant = {**BASE["assistant"], "rules": {}, "cache": False}  # the cache changes no reply
    assert _keys(tmp_path, protocols=["naive", written], judge=judge, assistant=assistant) == base
    sequential = {"name": "debate", "params": {"mode": "sequential"}}
    seq = _keys(tmp_path, protocols=["naive", sequential])
    assert seq[0] == base[0] and seq[1] != base[1] and seq[2] == base[2]
    no_scores = {**BASE["judge"], "can_score": False}  # the judge then parses its replies
    changed = _keys(tmp_path, protocols=["naive", "debate"], judge=no_scores)
    # the assistant-alone reference is judged by the assistant model: its key stays
    assert changed[0] != base[0] and changed[1] != base[1] and changed[2] == base[2]
