"""``sandwich plan``: which stages are stored (keys built by the stages' own code, nothing
run), what the missing ones cost (FLOPs by hand count), the per-machine throughput cached
once, clear errors, and thousands of cells planned in seconds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sandwich.cli import main
from sandwich.runs import cost as cost_mod
from sandwich.runs import parse_config, run
from sandwich.runs.cost import (
    Throughput,
    Work,
    arch_from_config,
    model_arch,
    pair_tokens,
    text_tokens,
    work_flops,
)
from sandwich.runs.planning import Plan, make_plan
from sandwich.store import ArtifactStore

# fixed rates: the tests that do not test the measurement do not take it
RATES = Throughput.fixed()
W2S: dict[str, Any] = {
    "name": "p",
    "task": {"name": "arithmetic", "n_items": 300},
    "weak": ["fake-weak"],
    "strong": ["fake-strong"],
    "elicitors": ["probe", "probe-logconf"],
    "seeds": [0, 1],
    "bootstrap": {"n_boot": 100},
}
PROTOCOL: dict[str, Any] = {
    "protocols": ["naive", "consultancy"],
    "judge": {"backend": "fake", "model": "judge"},
    "assistant": {"backend": "fake", "model": "helper"},
    "max_items": 20,
}


def _plan(doc: dict[str, Any], store: ArtifactStore) -> Plan:
    return make_plan(parse_config(doc), store, throughput=RATES)


def _states(plan: Plan) -> dict[tuple[int | None, str], str]:
    return {(r.cell, r.stage if r.cell is not None else f"{r.stage}:{r.label}"): r.state
            for r in plan.rows}  # fmt: skip


def _stored_keys(store: ArtifactStore) -> set[str]:
    """Every stage artifact in the store (model conversions aside)."""
    return {p.name for p in (store.root / "artifacts").glob("*/*/*") if p.parent.parent.name
            not in ("converted-model",)}  # fmt: skip


def test_empty_store_all_missing_then_all_stored_after_run(
    store: ArtifactStore, tmp_path: Path
) -> None:
    doc = {**W2S, **PROTOCOL}
    before = _plan(doc, store)
    cached = [r for r in before.rows if r.state != "runs"]
    assert before.n_cells == 2 * 3 + 2 * 3  # 3 elicitors (probe-logconf's control added)
    assert {r.state for r in cached} == {"missing", "shared"}
    assert all(r.seconds is not None for r in before.missing)
    # the fake generators cost nothing; every w2s stage that computes costs something
    assert all(r.seconds > 0 for r in before.missing if r.kind == "w2s")
    # a student's key holds its supervisor's labels: unknown until they are stored
    students = [r for r in before.rows if r.stage == "predictions"]
    assert students and all(r.key is None and "labels" in (r.note or "") for r in students)

    run(parse_config(doc), runs_root=tmp_path / "runs", store=store, progress=False)
    after = _plan(doc, store)
    assert {r.state for r in after.rows if r.state != "runs"} == {"stored", "shared"}
    assert after.total_flops == 0
    stored = {r.key for r in after.rows if r.state == "stored"}
    assert stored == _stored_keys(store)  # the plan's keys are exactly what the run wrote
    # measuring and summarising make no artifact: they run (and are costed) every time
    assert {r.stage for r in after.rows if r.state == "runs"} == {"measure", "summarise"}


def test_half_run_shows_exactly_the_stages_that_ran(store: ArtifactStore, tmp_path: Path) -> None:
    one = {**W2S, "elicitors": ["probe"], "seeds": [0]}
    run(parse_config(one), runs_root=tmp_path / "runs", store=store, progress=False)
    done = _stored_keys(store)
    plan = _plan({**W2S, "elicitors": ["probe"]}, store)  # seeds 0 and 1
    stored = {(r.cell, r.stage) for r in plan.rows if r.state == "stored"}
    assert stored == {(None, "features"), (0, "labels"), (0, "ceiling"), (0, "predictions")}
    assert {r.key for r in plan.rows if r.state == "stored"} == done
    assert {(r.cell, r.stage) for r in plan.rows if r.state == "missing"} == {
        (1, "labels"), (1, "ceiling"), (1, "predictions")}  # fmt: skip
    # the seed-1 student's key waits for its labels; seed 0's is known (and stored)
    assert next(r for r in plan.rows if r.cell == 1 and r.stage == "predictions").key is None


def test_flops_match_a_hand_count_for_a_tiny_model(tmp_path: Path, store: ArtifactStore) -> None:
    cfg = {"model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
           "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
           "head_dim": 4, "vocab_size": 10}  # fmt: skip
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "config.json").write_text(json.dumps(cfg))
    arch = model_arch(str(tmp_path / "tiny"), store)  # read from config.json, no weights
    # per block: q 8x8, o 8x8, k 8x4, v 8x4 (one kv head of 4), gate/up/down 3 x 8x16
    per_block = 64 + 64 + 32 + 32 + 3 * 128
    assert arch.block_params == 2 * per_block == 1152
    assert arch.params == 1152 + 10 * 8
    t = 100
    attention = 4 * 2 * 32 * 8 * t  # 4 L s d_attn T, s = 32 (the default sequence length)
    assert work_flops(Work("forward", "m", tokens=t), arch) == 2 * 1152 * t + attention
    assert work_flops(Work("forward", "m", tokens=t, depth=0.5), arch) == (
        0.5 * (2 * 1152 * t + attention))  # fmt: skip
    full = Work("train", "m", tokens=t, passes=2, params={"mode": "full"})
    assert work_flops(full, arch) == 2 * (6 * 1152 * t + 3 * attention)
    lora = Work("train", "m", tokens=t, passes=1, params={"mode": "lora"})
    assert work_flops(lora, arch) == 4 * 1152 * t + 3 * attention
    gen = Work("generate", "m", tokens=10, items=3, new_tokens=5)
    head = 2 * 10 * 8  # the LM head (vocab x hidden) on the last prompt token and each new one
    assert work_flops(gen, arch) == 2 * 1152 * 45 + 4 * 2 * 10 * 8 * 45 + head * 3 * 6
    judge = Work("forward", "m", tokens=t, params={"head": True})  # scoring reads every logit
    assert work_flops(judge, arch) == 2 * 1152 * t + attention + head * t
    # a non-gated (BERT-like) MLP has two matrices
    bert = arch_from_config("b", {**cfg, "model_type": "bert"})
    assert bert.block_params == 2 * (64 + 64 + 32 + 32 + 2 * 128)


def test_contrast_pairs_cost_their_shared_start_once_on_a_decoder() -> None:
    pos = ["The city of Lyon is in France. True", "Paris is in Spain. True"]
    neg = ["The city of Lyon is in France. False", "Paris is in Spain. False"]
    both = int(text_tokens(pos).sum() + text_tokens(neg).sum())
    assert pair_tokens(pos, neg, 128, shared=False) == both  # an encoder: two full passes
    # a decoder: each pair's 31 and 19 shared characters (8 and 5 tokens) and its BOS once
    assert pair_tokens(pos, neg, 128, shared=True) == both - (8 + 1) - (5 + 1)
    assert both / 2 < pair_tokens(pos, neg, 128, shared=True) < both
    # halves sharing nothing but the BOS; every half capped at max_length
    assert pair_tokens(["ab"], ["cd"], 128, shared=True) == 3 + 3 - 1
    assert pair_tokens(["x" * 400], ["x" * 400], 4, shared=False) == 8
    assert arch_from_config("m", {"model_type": "llama", "hidden_size": 8,
                                  "num_hidden_layers": 1}).causal  # fmt: skip
    assert not arch_from_config("m", {"model_type": "bert", "hidden_size": 8,
                                      "num_hidden_layers": 1}).causal  # fmt: skip


def test_throughput_is_measured_once_per_machine(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def measure(device: str = "cpu", repeat: int = 3) -> dict[str, Any]:
        calls.append(device)
        return RATES.to_dict()

    monkeypatch.setattr(cost_mod, "measure_throughput", measure)
    config = parse_config({**W2S, "elicitors": ["probe"]})
    first = make_plan(config, store)
    second = make_plan(config, store)
    assert calls == ["cpu"]  # the second plan read the cache
    assert first.throughput == second.throughput == RATES.to_dict()
    assert len(list((store.root / "machine").glob("throughput-*.json"))) == 1
    make_plan(config, store, refresh=True)
    assert calls == ["cpu", "cpu"]


def test_bad_config_gives_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**W2S, "elicitors": ["probee"]}))
    assert main(["plan", str(bad)]) != 0
    err = capsys.readouterr().err
    assert "elicitors.0" in err and "probe" in err
    assert main(["plan", str(tmp_path / "missing.yaml")]) != 0
    assert "missing.yaml" in capsys.readouterr().err


def test_cli_prints_the_plan_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cost_mod, "measure_throughput", lambda *a, **k: RATES.to_dict())
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**W2S, **PROTOCOL}))
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "12 cells" in out and "missing" in out and "to compute:" in out
    assert "features costed" not in out  # rates without kernels: every forward at one rate
    assert main(["plan", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["n_cells"] == 12 and doc["total_seconds"] > 0
    assert {r["stage"] for r in doc["rows"]} >= {"features", "labels", "transcripts"}
    import torch

    if not torch.cuda.is_available():  # no GPU to measure: FLOPs and memory, time unknown
        assert main(["plan", str(path), "--json", "--device", "cuda"]) == 0
        gpu = json.loads(capsys.readouterr().out)
        assert gpu["total_seconds"] is None and gpu["total_flops"] == doc["total_flops"]


def test_thousands_of_cells_plan_in_seconds(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    real = __import__("sandwich.runs.features", fromlist=["load_model"]).load_model

    def counting(name: str, **kw: Any) -> Any:
        loads.append(name)
        return real(name, **kw)

    monkeypatch.setattr("sandwich.runs.features.load_model", counting)
    # cities: no groups, so a seed's split is cheap (arithmetic's grouped split dominates)
    doc = {**W2S, "task": {"name": "cities", "n_items": 300}, "weak": ["fake-weak", "fake-mid"],
           "elicitors": ["probe", {"name": "probe", "label": "probe-short",
                                   "params": {"max_iter": 100}}],
           "seeds": list(range(500))}  # fmt: skip
    config = parse_config(doc)
    make_plan(parse_config({**doc, "seeds": [0]}), store, throughput=RATES)  # imports, once
    loads.clear()
    t0 = time.perf_counter()
    plan = make_plan(config, store, throughput=RATES)
    seconds = time.perf_counter() - t0
    assert plan.n_cells == 2000
    assert seconds < 10, f"2000 cells planned in {seconds:.1f} s"
    assert sorted(loads) == ["fake-mid", "fake-strong", "fake-weak"]  # once each, not per cell
    assert sum(r.stage == "labels" and r.state == "missing" for r in plan.rows) == 1000


def test_protocol_stages_count_turns_and_judge_reads(store: ArtifactStore) -> None:
    from sandwich.runs.context import RunContext
    from sandwich.runs.kinds import kind_of
    from sandwich.runs.protocol import transcripts_key

    debate = {"name": "debate", "params": {"rounds": 2, "mode": "sequential"}}
    doc = {**PROTOCOL, "name": "p", "task": {"name": "arithmetic", "n_items": 300},
           "protocols": ["naive", "consultancy", debate, "critique"]}  # fmt: skip
    config = parse_config(doc)
    ctx = RunContext(config, store, progress=False)
    kind = kind_of("protocol")
    cells = kind.plan(config)
    stages = [s for s in kind.stages(ctx, cells) if s.stage == "transcripts"]
    by = {cells[s.cell].protocol.display: s for s in stages if s.cell is not None}

    def ops(name: str, op: str) -> int:
        return sum(w.items for w in by[name].work if w.op == op)

    n = 20  # max_items
    assert ops("naive", "generate") == 0 and ops("naive", "forward") == 2 * n  # both orders
    assert ops("consultancy", "generate") == n  # one round
    assert ops("critique", "generate") == 2 * n  # answer, then critique
    # sequential: 2 rounds x 2 debaters, written in both speaking orders, each read in both
    assert ops("debate", "generate") == 2 * 2 * 2 * n and ops("debate", "forward") == 2 * 2 * n
    for s in stages:  # the key is the one the cell stores its transcripts under
        items = ctx.task(cells[s.cell].task).items[:n]
        assert s.key == transcripts_key(ctx, cells[s.cell], items)


def test_memory_counts_weights_activations_and_optimizer_state() -> None:
    from sandwich.runs.cost import memory_bytes

    cfg = {"model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
           "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
           "head_dim": 4, "vocab_size": 10}  # fmt: skip
    arch = arch_from_config("tiny", cfg)
    p = arch.params  # 1232
    assert memory_bytes(Work("load", "m"), arch) == 4 * p
    fwd = Work("forward", "m", tokens=100, params={"batch": 2, "seq": 5})
    assert memory_bytes(fwd, arch) == 4 * p + 10 * (4 * 8 + 2 * 16) * 4 + 10 * 8 * 4
    full = Work("train", "m", params={"mode": "full", "batch": 2, "seq": 5})
    acts = 2 * 10 * (10 * 8 + 3 * 16) * 4  # every block's activations, fp32
    assert memory_bytes(full, arch) == 4 * p + acts + p * 12  # grads 4 + AdamW 8 per param
    lora = Work("train", "m", params={"mode": "lora", "lora_r": 2, "batch": 2, "seq": 5})
    assert memory_bytes(lora, arch) == 4 * p + acts + 2 * 2 * 2 * (8 + 8) * 12


TINY = {"model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "head_dim": 4, "vocab_size": 10}  # fmt: skip


def test_generation_seconds_count_prefill_and_decode_steps_per_batch() -> None:
    from sandwich.runs.cost import generate_seconds, work_seconds

    arch = arch_from_config("tiny", TINY)  # N = 1152 block weights, H = 10 x 8 head weights
    gen = Work("generate", "m", tokens=10, items=20, new_tokens=5, params={"batch": 8})
    # prefill: 2 N per prompt token + the head on the last one, + attention 4 L s d_attn T
    prefill = 20 * (2 * 1152 * 10 + 2 * 80) + 4 * 2 * 10 * 8 * (20 * 10)
    # 3 batches of at most 8 sequences x 5 steps, each: step + L layer + (N + H)(param + 8 row)
    step = 1e-3 + 2 * 1e-4 + (1152 + 80) * (1e-11 + 8 * 1e-12)
    expected = prefill / 1e10 + 3 * 5 * step
    assert generate_seconds(gen, arch, RATES) == pytest.approx(expected)
    assert work_seconds(gen, arch, RATES) == pytest.approx(expected)
    # fewer sequences than the batch decode together: one batch of 3
    few = Work("generate", "m", tokens=10, items=3, new_tokens=5, params={"batch": 8})
    step3 = 1e-3 + 2 * 1e-4 + (1152 + 80) * (1e-11 + 3 * 1e-12)
    prefill3 = 3 * (2 * 1152 * 10 + 2 * 80) + 4 * 2 * 10 * 8 * 30
    assert generate_seconds(few, arch, RATES) == pytest.approx(prefill3 / 1e10 + 5 * step3)


def test_decode_rates_recover_a_planted_step_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The measurement's arithmetic: step times generated by a known model (per step, per
    block, per weight, per weight and sequence) give that model back."""
    truth = {"decode_step": 2e-3, "decode_layer": 3e-4, "decode_param": 4e-11,
             "decode_param_row": 5e-12}  # fmt: skip

    class Model:
        def __init__(self, cfg: dict[str, Any]) -> None:
            self.arch = arch_from_config("m", cfg)

        def to(self, device: str) -> Model:
            return self

        def eval(self) -> Model:
            return self

    def tiny(hidden: int, layers: int, vocab: int, inter: int | None = None) -> Any:
        cfg = {"model_type": "llama", "hidden_size": hidden, "intermediate_size": inter,
               "num_hidden_layers": layers, "num_attention_heads": 8,
               "vocab_size": vocab}  # fmt: skip
        m = Model(cfg)
        return m, m.arch

    def step(model: Model, rows: int, device: str, repeat: int) -> float:
        a = model.arch
        weights = a.block_params + a.vocab * a.hidden
        return (truth["decode_step"] + a.layers * truth["decode_layer"]
                + weights * (truth["decode_param"] + rows * truth["decode_param_row"]))  # fmt: skip

    monkeypatch.setattr(cost_mod, "_tiny_llama", tiny)
    monkeypatch.setattr(cost_mod, "_decode_step", step)
    got = cost_mod._decode_rates("cpu", 1)
    # the small models' own weights are counted as overhead: a few percent at most
    assert got["decode_step"] == pytest.approx(truth["decode_step"], rel=0.2)
    assert got["decode_layer"] == pytest.approx(truth["decode_layer"], rel=0.05)
    assert got["decode_param"] == pytest.approx(truth["decode_param"], rel=0.05)
    assert got["decode_param_row"] == pytest.approx(truth["decode_param_row"], rel=1e-6)


def test_logconf_seconds_have_a_per_row_and_a_per_feature_part() -> None:
    from sandwich.runs.cost import work_seconds

    w = Work("logconf", items=500, passes=20, params={"dim": 640})
    assert work_seconds(w, None, RATES) == pytest.approx((1e-5 + 1e-7 * 640) * 500 * 20)
    narrow = Work("logconf", items=500, passes=20, params={"dim": 64})
    # the per-step part does not shrink with the width: 10x narrower is not 10x faster
    assert work_seconds(w, None, RATES) / work_seconds(narrow, None, RATES) < 5


def test_probe_fit_uses_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """lbfgs's matrix-vector products run on one BLAS thread: with two, a fit waited on
    a core held by torch's threads or other work (10-200x slower; docs/planning.md), which
    neither the run nor the planner's probe rate can afford."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    from sandwich.elicit import ELICITORS

    seen: list[int] = []
    real = LogisticRegression.fit

    def fit(self: Any, *a: Any, **k: Any) -> Any:
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return real(self, *a, **k)

    monkeypatch.setattr(LogisticRegression, "fit", fit)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5))
    with threadpool_limits(2, user_api="blas"):
        ELICITORS.build("probe").fit(X, (X[:, 0] > 0).astype(float), random_state=0)
    assert seen and set(seen) == {1}


def test_protocol_generation_runs_in_the_generators_batches(store: ArtifactStore) -> None:
    from sandwich.runs.context import RunContext
    from sandwich.runs.kinds import kind_of

    doc = {"name": "p", "task": {"name": "dossier", "n_items": 24}, "protocols": ["consultancy"],
           "judge": "smollm2-135m", "assistant": "gemma3-270m", "batch_size": 24}  # fmt: skip
    config = parse_config(doc)
    ctx = RunContext(config, store, progress=False)
    kind = kind_of("protocol")
    stages = [s for s in kind.stages(ctx, kind.plan(config)) if s.stage == "transcripts"]
    gens = [w for st in stages for w in st.work if w.op == "generate"]
    # 24 items per protocol call, decoded 8 at a time (the local generator's batch_size)
    assert gens and all(w.items == 24 and w.params["batch"] == 8 for w in gens)


def test_an_in_context_icm_search_asks_the_expected_prompts_by_hand_count() -> None:
    """Four claims, two labelled at the start, one proposal: the first U (2 prompts of 1
    demonstration), then half the time an unlabelled claim (its prompt of 2 demonstrations,
    then U of 3 claims: 3 prompts of 2), half the time a labelled one that changes with
    CHANGE_SHARE (U of 2 claims again)."""
    from sandwich.runs.w2s.stage_plan import CHANGE_SHARE, icm_search_prompts

    prompts, demos = icm_search_prompts(claims=4, initial=2, iterations=1)
    assert prompts == pytest.approx(2 + 0.5 * (1 + 3) + 0.5 * CHANGE_SHARE * 2)
    assert demos == pytest.approx(2 * 1 + 0.5 * (2 + 3 * 2) + 0.5 * CHANGE_SHARE * 2 * 1)
    # more proposals, more and longer prompts; never more claims than there are
    assert icm_search_prompts(4, 2, 50)[1] > icm_search_prompts(4, 2, 10)[1] > demos
    assert icm_search_prompts(4, 2, 10_000)[0] < 10_000 * (1 + 4)


def test_in_context_icm_costs_its_prompts_through_the_generator_not_a_probe_fit(
    store: ArtifactStore,
) -> None:
    """``icm`` with ``predictor: in-context`` scores prompts with the generator (each read
    twice, once per choice, with the LM head): its ceiling and student cost the search's
    prompts and T's many-shot ones through the model's forward, not a probe fit; a remote
    generator's tokens are counted and its time is the server's (no estimate)."""
    from sandwich.elicit.reporters.icm_context import DEMO, QUESTION
    from sandwich.runs.context import RunContext
    from sandwich.runs.plan import plan_cells
    from sandwich.runs.w2s.data import CellData
    from sandwich.runs.w2s.stage_plan import CHANGE_SHARE, w2s_stages

    params = {"predictor": "in-context", "max_items": 4, "initial": 4, "iterations": 1,
              "max_demos": 3}  # fmt: skip
    local = {"name": "icm", "params": {**params, "generator": "smollm2-135m"}}
    config = parse_config({**W2S, "elicitors": [local], "seeds": [0]})
    ctx = RunContext(config, store)
    cells = plan_cells(config)
    stages = w2s_stages(ctx, cells)  # type: ignore[arg-type]
    pred = next(s for s in stages if s.stage == "predictions")
    assert [w.op for w in pred.work] == ["load", "forward"]
    fwd = pred.work[1]
    assert fwd.model == "smollm2-135m" and fwd.params["head"]
    cell = cells[0]
    data = CellData(ctx, cell, ctx.task(cell.task), ctx.splits(cell.task, 0), cell.strong, 0,
                    False)  # type: ignore[arg-type]  # fmt: skip
    texts, n_test = data.texts("train_strong"), len(data.items("test"))
    demo = float(np.mean(text_tokens([DEMO.format(text=t, label="False") for t in texts])))
    question = float(np.mean(text_tokens([QUESTION.format(text=t) for t in texts])))
    # every claim labelled from the start: the first U (4 prompts of 3 demonstrations), one
    # proposal that changes a label with CHANGE_SHARE (U again), T's prompts of 3 each
    prompts = 4 + CHANGE_SHARE * 4 + n_test
    demos = 4 * 3 + CHANGE_SHARE * 4 * 3 + n_test * 3
    assert fwd.items == 2 * prompts  # " True" and " False"
    assert fwd.tokens == 2 * round(prompts * (question + 1) + demos * (demo - 2))
    remote = {"backend": "openai", "model": "m", "base_url": "http://localhost:9"}
    config = parse_config({**W2S, "seeds": [0], "elicitors": [
        {"name": "icm", "params": {**params, "generator": remote}}]})  # fmt: skip
    plan = make_plan(config, store, throughput=RATES)
    row = next(r for r in plan.rows if r.stage == "predictions")
    assert row.seconds is None
    (work,) = next(s for s in w2s_stages(RunContext(config, store), plan_cells(config))  # type: ignore[arg-type]
                   if s.stage == "predictions").work  # fmt: skip
    assert work.tokens == fwd.tokens


def test_w2s_reporters_are_costed_by_their_solver_not_as_a_probe_fit(store: ArtifactStore) -> None:
    """A w2s elicitor that reads features is costed by what its solver does on B's ``n``
    rows of the strong model's width ``d`` (hand counts at the fixed rates): mass-mean a
    pass, CRC an SVD, CCS its restarts x epochs of steps, ICM's search its proposals over
    ``2 min(max_items, n)`` claims; all were one probe fit."""
    from sandwich.runs.context import RunContext
    from sandwich.runs.cost import work_seconds
    from sandwich.runs.plan import plan_cells
    from sandwich.runs.w2s.stage_plan import w2s_stages

    ccs = {"name": "ccs", "params": {"restarts": 3, "epochs": 50}}
    icm = {"name": "icm", "params": {"max_items": 16, "iterations": 40}}
    config = parse_config({**W2S, "seeds": [0], "elicitors": ["mass-mean", "crc", ccs, icm]})
    ctx = RunContext(config, store)
    cells = plan_cells(config)
    stages = w2s_stages(ctx, cells)  # type: ignore[arg-type]
    d = model_arch("fake-strong", store).hidden
    n = len(ctx.splits(cells[0].task, 0).train_strong)  # type: ignore[attr-defined]
    expected = {"mass-mean": RATES.mass_mean_unit * n * d,
                "crc": RATES.svd_unit * n * d * min(n, d),
                "ccs": RATES.ccs_unit * n * d * 3 * 50,
                "icm": 40 * (RATES.icm_proposal + RATES.icm_unit * 2 * min(16, n))}  # fmt: skip
    for i, cell in enumerate(cells):
        name = cell.elicitor.name  # type: ignore[attr-defined]
        if name not in expected:
            continue
        (pred,) = [s for s in stages if s.cell == i and s.stage == "predictions"]
        assert sum(work_seconds(w, None, RATES) or 0 for w in pred.work) == pytest.approx(
            expected[name]
        ), name


def _tiny_hf(tmp_path: Path, store: ArtifactStore) -> tuple[Any, str]:
    """A tiny real Llama (weights, tokenizer) as the run loads it, and its path."""
    from sandwich.models import load_model
    from sandwich.testing.tiny_models import build_tiny_llama

    path = str(build_tiny_llama(tmp_path / "llama", ["a", "b", "c"]))
    return load_model(path, store=store, progress=False), path


KERNEL_RATES = {"float32": 1e9, "float32+packed": 2e9, "bfloat16": 4e9, "bfloat16+packed": 8e9}


@pytest.mark.parametrize(
    ("precision", "prepack", "kernel"),
    [("float32", "off", "float32"), ("float32", "on", "float32+packed"),
     ("bfloat16", "off", "bfloat16"), ("bfloat16", "on", "bfloat16+packed")],
)  # fmt: skip
def test_a_feature_forward_is_costed_at_the_rate_of_the_kernel_the_run_picks(
    tmp_path: Path, store: ArtifactStore, monkeypatch: pytest.MonkeyPatch,
    precision: str, prepack: str, kernel: str,
) -> None:  # fmt: skip
    from sandwich.runs.cost import feature_params
    from sandwich.runs.planning import _Costs

    monkeypatch.setenv("SANDWICH_PRECISION", precision)
    monkeypatch.setenv("SANDWICH_PREPACK", prepack)
    model, path = _tiny_hf(tmp_path, store)
    assert model.feature_kernel("auto") == (precision, prepack == "on")
    features = parse_config(W2S).features  # dtype auto: resolved as the run resolves it
    extract = Work("forward", path, tokens=1000, params=feature_params(features, 10))
    flops = work_flops(extract, model_arch(path, store))
    tp = Throughput.fixed(forward_flops=1e9, forward_rates=KERNEL_RATES)
    costs = _Costs(store, tp, "auto", lambda name: model)
    assert costs.seconds(extract) == pytest.approx(flops / KERNEL_RATES[kernel])
    # a forward without a dtype (a fine-tuned model's predictions): float32, torch's linears
    plain = Work("forward", path, tokens=1000, params={"seq": 10})
    assert costs.seconds(plain) == pytest.approx(flops / 1e9)
    # a generator's forward in its dtype: never packed (only feature modules are)
    read = Work("forward", path, tokens=1000, params={"seq": 10, "dtype": precision})
    assert costs.seconds(read) == pytest.approx(flops / KERNEL_RATES[precision])
    # rates cached before the kernels were measured: float32's, whatever the dtype
    old = _Costs(store, Throughput.fixed(forward_flops=1e9), "auto", lambda name: model)
    assert old.seconds(extract) == pytest.approx(flops / 1e9)


@pytest.mark.parametrize(("bf16_speedup", "pack_speedup", "kernel"),
                         [(2.0, 1.3, "bfloat16+packed"), (1.0, 1.3, "float32+packed"),
                          (2.0, 1.0, "bfloat16")])  # fmt: skip
def test_dtype_auto_and_packing_follow_this_machines_measurements_in_the_plan(
    tmp_path: Path, store: ArtifactStore, monkeypatch: pytest.MonkeyPatch,
    bf16_speedup: float, pack_speedup: float, kernel: str,
) -> None:  # fmt: skip
    from sandwich.models import precision, prepack
    from sandwich.runs.cost import feature_params
    from sandwich.runs.planning import _Costs

    monkeypatch.delenv("SANDWICH_PRECISION")
    monkeypatch.delenv("SANDWICH_PREPACK")
    measured: list[str] = []

    def bf16(purpose: str, hidden: int, device: str = "cpu") -> dict[str, Any]:
        measured.append(f"precision {hidden}")
        return {"speedup": bf16_speedup, "max_rel_error": 0.001, "min_cosine": 0.999}

    def packing(dtype: str, hidden: int) -> dict[str, Any]:
        measured.append(f"prepack {dtype} {hidden}")
        return {"speedup": pack_speedup, "rel_error": 0.0}

    monkeypatch.setattr(precision, "measure", bf16)
    monkeypatch.setattr(prepack, "measure", packing)
    model, path = _tiny_hf(tmp_path, store)
    work = Work("forward", path, tokens=1000,
                params=feature_params(parse_config(W2S).features, 10))  # fmt: skip
    flops = work_flops(work, model_arch(path, store))
    tp = Throughput.fixed(forward_flops=1e9, forward_rates=KERNEL_RATES)
    for _ in range(2):  # the second plan reads both decisions from the store
        costs = _Costs(store, tp, "auto", lambda name: model)
        assert costs.seconds(work) == pytest.approx(flops / KERNEL_RATES[kernel])
    dtype, h = kernel.split("+")[0], model.hidden_size
    assert measured == [f"precision {h}", f"prepack {dtype} {h}"]


def test_forward_kernel_rates_time_every_kernel_on_copies_of_the_model() -> None:
    import torch

    model, arch = cost_mod._tiny_llama(hidden=64, layers=1, vocab=64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rates = cost_mod._forward_kernel_rates(model, arch, 8, "cpu", 1)
    assert set(rates) == {"float32", "float32+packed", "bfloat16", "bfloat16+packed"}
    assert all(np.isfinite(r) and r > 0 for r in rates.values())
    # the model the rest of the measurement trains is still float32 with torch's linears
    assert all(type(m) is torch.nn.Linear for m in model.modules() if "Linear" in type(m).__name__)
    after = model.state_dict()
    assert all(after[k].dtype == torch.float32 and torch.equal(after[k], v)
               for k, v in before.items())  # fmt: skip


def test_the_plan_says_which_kernel_each_models_features_were_costed_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rates = Throughput.fixed(forward_rates=KERNEL_RATES).to_dict()
    monkeypatch.setattr(cost_mod, "measure_throughput", lambda *a, **k: rates)
    monkeypatch.setenv("SANDWICH_PRECISION", "bfloat16")
    monkeypatch.setenv("SANDWICH_PREPACK", "off")
    path = tmp_path / "c.yaml"  # an embedded model's features (planned without its weights)
    path.write_text(yaml.safe_dump({**W2S, "strong": ["gemma3-270m"]}))
    assert main(["plan", str(path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    # the fake model keeps float32 whatever the override (FakeModel.auto_dtype), as it runs
    assert "costed as they will run here: fake-weak in float32; gemma3-270m in bfloat16 " in out
    monkeypatch.setenv("SANDWICH_PRECISION", "float32")
    monkeypatch.setenv("SANDWICH_PREPACK", "on")
    assert main(["plan", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["feature_kernels"] == {"fake-weak": "float32", "gemma3-270m": "float32+packed"}


def test_a_model_that_cannot_load_here_is_costed_at_its_dtypes_rate(
    tmp_path: Path, store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandwich.errors import ConfigError
    from sandwich.runs.cost import feature_params
    from sandwich.runs.planning import _Costs

    monkeypatch.setenv("SANDWICH_PRECISION", "bfloat16")

    def unavailable(name: str) -> Any:
        raise ConfigError(f"model {name!r} is not in the Hugging Face cache")

    work = Work("forward", "Qwen2.5-1.5B", tokens=1000,
                params=feature_params(parse_config(W2S).features, 10))  # fmt: skip
    flops = work_flops(work, model_arch("Qwen2.5-1.5B", store))  # a shape from the name
    assert flops > 0
    tp = Throughput.fixed(forward_flops=1e9, forward_rates=KERNEL_RATES)
    costs = _Costs(store, tp, "auto", unavailable)
    assert costs.seconds(work) == pytest.approx(flops / KERNEL_RATES["bfloat16"])
    # a dtype features never run in (a generator's float16): float32's rate
    half = Work("forward", "Qwen2.5-1.5B", tokens=1000, params={"seq": 10, "dtype": "float16"})
    assert costs.seconds(half) == pytest.approx(flops / 1e9)


def test_a_kernel_this_machine_cannot_run_is_left_out_of_the_rates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sandwich.models import prepack

    def cannot(module: Any, rows: int = 512) -> int:
        raise RuntimeError("no oneDNN here")

    monkeypatch.setattr(prepack, "pack", cannot)
    model, arch = cost_mod._tiny_llama(hidden=64, layers=1, vocab=64)
    rates = cost_mod._forward_kernel_rates(model, arch, 8, "cpu", 1)
    assert set(rates) == {"float32", "bfloat16"}
    tp = Throughput.fixed(forward_flops=rates["float32"], forward_rates=rates)
    assert tp.forward_rate("bfloat16+packed") == rates["bfloat16"]  # its dtype's plain rate
