"""The reward kind on the fake backend: config, plan, a run end to end, resume, results, report.

The policy is a scripted generator answering "What is a + b? Answer:" with a number
and the statement it implies (" 85 (37 + 48 = 85)"), off by a seeded amount; the fake
feature models read the statement and believe it with their skill (fake-strong 0.97,
fake-weak 0.7), so a reward model on their features can learn which answers are right.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sandwich.errors import ConfigError
from sandwich.models.generation.base import Generator, GenRequest, GenResult
from sandwich.results import parse_results
from sandwich.runs import parse_config, run
from sandwich.runs.config import RunConfig
from sandwich.runs.executor import LocalExecutor
from sandwich.runs.reward.schema import FLAG_GOLD_SUPERVISOR, RewardCell, RewardRecord
from sandwich.store import ArtifactStore
from sandwich.store.hashing import digest

PROMPT = re.compile(r"What is (\d+) \+ (\d+)\?")
OFFSETS = (0, 0, 0, 50, -50)  # wrong answers tie under gold: the features see right/wrong


class ArithPolicy(Generator):
    """Answers a sum, right or off by 50 by the request's seed (3 in 5 right)."""

    def __init__(self) -> None:
        self.calls = 0

    def describe(self) -> dict[str, Any]:
        return {"backend": "fake", "model": "arith-policy"}

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        self.calls += len(requests)
        out = []
        for r in requests:
            found = PROMPT.findall(r.messages[-1].content)  # the last: after any examples
            assert found, r.messages[-1].content
            a, b = (int(x) for x in found[-1])
            off = OFFSETS[int(digest([r.seed])[:8], 16) % len(OFFSETS)]
            said = a + b + off
            out.append(GenResult(text=f" {said} ({a} + {b} = {said})"))
        return out


def config(**reward: Any) -> RunConfig:
    section = {
        "task": {"name": "arith-prefs", "n_prompts": 90, "params": {"ops": "+"}},
        "policy": {"backend": "fake", "model": "arith-policy"},
        "strong": ["fake-strong"],
        "supervisors": [
            "gold",
            "weak-rm:fake-weak",
            {"name": "nonexpert", "params": {"knowledge": 0.3}},
        ],
        "comparisons": {"samples": 4, "per_prompt": 6},
        "bon": {"n": 16},
        **reward,
    }
    return parse_config({"name": "rw", "seeds": [0], "bootstrap": {"n_boot": 200},
                         "reward": section})  # fmt: skip


def run_once(cfg: RunConfig, tmp: Path, policy: ArithPolicy | None = None) -> Any:
    return run(
        cfg, runs_root=tmp / "runs", store=ArtifactStore(tmp / "store"),
        executor=LocalExecutor(progress=False), progress=False,
        generators={"arith-policy": policy or ArithPolicy()},
    )  # fmt: skip


def test_a_reward_config_needs_no_tasks_and_plans_one_cell_per_supervisor() -> None:
    from sandwich.runs.plan import plan_cells

    cfg = config(reward_models=["bt"])
    assert cfg.kinds == ["reward"] and cfg.tasks == []
    cells = plan_cells(cfg)
    assert all(isinstance(c, RewardCell) for c in cells)
    assert [c.supervisor.display for c in cells] == [  # type: ignore[attr-defined]
        "gold", "weak-rm:fake-weak", "nonexpert",
    ]  # fmt: skip
    assert all(c.strong == "fake-strong" for c in cells)  # type: ignore[attr-defined]
    assert "arith-prefs | arith-policy | fake-strong bt | weak-rm:fake-weak | seed 0" in [
        c.label for c in cells
    ]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"supervisors": ["weak-rm"]}, "reward.supervisors.0: model: weak-rm needs one"),
        ({"supervisors": ["oracle"]}, "reward.supervisors.0.name"),
        ({"strong": ["no-such-model"]}, "reward.strong.0: unknown model 'no-such-model'"),
        ({"comparisons": {"samples": 3, "per_prompt": 4}}, "3 samples make only 3 distinct"),
        ({"bon": {"n": 8, "ns": [1, 2, 16]}}, "reward.bon: ns: 16 > n = 8"),
        ({"bon": {"n": 8, "ns": [2, 4]}}, "ns: must start at 1"),
        ({"task": "geo-prefz"}, "reward.task.name: unknown reward task 'geo-prefz'"),
        ({"task": {"name": "arith-prefs", "params": {"digits": 3}}}, "reward.task.params"),
        ({"supervisors": [{"name": "nonexpert", "params": {"noise": 2}}]},
         "reward.supervisors.0.params.noise"),
        ({"supervisors": [{"name": "gold", "params": {"x": 1}}]}, "gold supervisor takes none"),
        ({"supervisors": ["gold", "gold"]}, "reward.supervisors.1: 'gold' appears twice"),
        ({"reward_models": ["finetuned"]}, "reward.finetuned: reward_models lists finetuned"),
        ({"samples": 4}, "reward.samples: unknown field"),
    ],
)  # fmt: skip
def test_a_bad_reward_section_fails_naming_the_field(
    section: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        config(**section)
    assert expected in str(err.value)


def test_run_resume_results_and_report(tmp_path: Path) -> None:
    cfg = config()
    policy = ArithPolicy()
    out = run_once(cfg, tmp_path, policy)
    rows = {r.supervisor: r for r in out.results.cells_of("reward")}
    assert set(rows) == {"gold", "weak-rm:fake-weak", "nonexpert"}
    gold, weak, nonexpert = rows["gold"], rows["weak-rm:fake-weak"], rows["nonexpert"]
    # the gold supervisor is the ceiling: the same labels, the same reward model
    assert gold.student_acc == gold.ceiling_acc and gold.weak_acc == 1.0
    assert FLAG_GOLD_SUPERVISOR in gold.flags and gold.pgr is None
    # the strong features carry correctness: the ceiling is well above chance, and the
    # weak supervisors are below it
    assert gold.ceiling_acc > 0.8
    for r in (weak, nonexpert):
        assert r.weak_acc < r.ceiling_acc and r.pgr is not None
        lo, hi = r.pgr_ci
        assert lo is not None and hi is not None and lo <= r.pgr <= hi
        assert r.n_test > 0 and r.n_train > r.n_test_prompts
        assert 0.0 <= (r.agreement_on_errors or 0.0) <= 1.0
    # best-of-n: n = 1, 2, 4, 8, 16, relative to the policy (0 at n = 1), KL_bon exact
    ns = [p.n for p in gold.bon]
    assert ns == [1, 2, 4, 8, 16]
    assert gold.bon[0].gold == pytest.approx(0.0, abs=1e-12) and gold.bon[0].kl == 0.0
    for p in gold.bon:
        assert p.kl == pytest.approx(np.log(p.n) - (p.n - 1) / p.n)
    assert gold.bon[-1].proxy > 0.5  # the proxy's own reward climbs with n
    assert gold.bon[-1].gold > 0.0  # a good proxy raises gold too
    assert gold.gao_gold is not None and gold.gao_gold.form == "bon"
    # results.json round-trips, the report renders the table and the plots
    again = parse_results((out.run_dir / "results.json").read_text())
    assert all(isinstance(r, RewardRecord) for r in again.cells_of("reward"))
    report = (out.run_dir / "report.md").read_text()
    assert "Reward models on weak preferences" in report and "weak-rm:fake-weak" in report
    assert "Over-optimisation" in report
    assert list((out.run_dir / "plots").glob("reward-bon-*.png"))
    cell = json.loads(sorted((out.run_dir / "cells").glob("*.json"))[0].read_text())
    assert cell["outcome"]["kind"] == "reward"
    # a rerun reads every stage from the store: no generation, the same numbers
    calls = policy.calls
    assert calls > 0
    second = run_once(cfg, tmp_path, policy)
    assert policy.calls == calls
    assert [r.model_dump(exclude={"seconds"}) for r in second.results.cells_of("reward")] == [
        r.model_dump(exclude={"seconds"}) for r in out.results.cells_of("reward")
    ]


def test_sandwich_plan_lists_the_stages_and_sees_them_stored_after_a_run(tmp_path: Path) -> None:
    from sandwich.runs.cost import Throughput
    from sandwich.runs.planning import make_plan

    cfg = config(supervisors=["gold", "weak-rm:fake-weak"])
    store = ArtifactStore(tmp_path / "store")
    tp = Throughput.fixed()
    before = make_plan(cfg, store, throughput=tp)
    stages = [(r.stage, r.state) for r in before.rows]
    assert ("completions", "missing") in stages and ("bon-completions", "missing") in stages
    assert {"features", "preferences", "reward-model", "ceiling", "measure"} <= {
        s for s, _ in stages
    }
    run_once(cfg, tmp_path)
    after = make_plan(cfg, store, throughput=tp)
    states = {(r.stage, r.state) for r in after.rows}
    assert ("completions", "stored") in states and ("reward-model", "stored") in states
    assert all(r.state in ("stored", "shared", "runs") for r in after.rows), [
        (r.stage, r.state, r.note) for r in after.rows if r.state == "missing"
    ]


def test_a_preference_file_runs_without_best_of_n(tmp_path: Path) -> None:
    """A JSONL file brings its own chosen / rejected completions and no gold program:
    the reward models are measured on its comparisons, best-of-n is left out."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(80):
        a, b = (int(x) for x in rng.integers(10, 99, 2))
        wrong = a + b + int(rng.choice([-50, 50]))
        rows.append({"prompt": f"What is {a} + {b}? Answer:", "group": f"g{i % 20}",
                     "chosen": f" {a + b} ({a} + {b} = {a + b})",
                     "rejected": f" {wrong} ({a} + {b} = {wrong})"})  # fmt: skip
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config(task={"path": str(path), "n_prompts": 80}, supervisors=["gold", "nonexpert"])
    out = run_once(cfg, tmp_path)
    rows_out = {r.supervisor: r for r in out.results.cells_of("reward")}
    assert rows_out["gold"].task == "prefs" and rows_out["gold"].ceiling_acc > 0.8
    assert all(r.bon == [] and r.gao_gold is None for r in rows_out.values())
    assert rows_out["nonexpert"].n_test == rows_out["gold"].n_test > 0


def _rows(plan: Any, stage: str) -> list[Any]:
    return [r for r in plan.rows if r.stage == stage]


def test_a_cold_plan_counts_the_cells_fits_and_bootstraps_the_run_makes(tmp_path: Path) -> None:
    """On an empty store the samples are unknown, but not how many comparisons each split
    has: the Bradley-Terry fits (weak-rm's on A, the reward model and ceiling on B) and the
    bootstraps are costed with the counts the run then makes, not as 0 s. A fit is costed at
    the Bradley-Terry unit (per comparison x feature of the strong model) for soft labels
    (gold's ties, weak-rm's probabilities) or hard ones (nonexpert's 0/1), not at the
    probe's rate; the reward model on gold is the ceiling (one fit); and each stage reads
    what it reads: the samples, and the stored features of every completion."""
    from sandwich.runs.cost import Throughput, model_arch
    from sandwich.runs.planning import make_plan
    from sandwich.runs.reward.cell import RewardData

    cfg = config()  # gold, weak-rm, nonexpert
    store = ArtifactStore(tmp_path / "store")
    tp = Throughput.fixed()
    cold = make_plan(cfg, store, throughput=tp)
    result = run_once(cfg, tmp_path)
    from sandwich.runs.context import RunContext

    ctx = RunContext(cfg, store=store, generators={"arith-policy": ArithPolicy()})
    section = cfg.section("reward")
    data = RewardData.build(ctx, section.task, section.policy, 0)
    n_a, n_b, n_t = (len(data.comparisons[s]) for s in ("train_weak", "train_strong", "test"))
    assert result is not None and min(n_a, n_b, n_t) > 0
    assert data.bon is not None
    dim, wdim = (model_arch(m, store).hidden for m in ("fake-strong", "fake-weak"))
    n_comp, n_bon = len(data.task_of(data.full).items), len(data.task_of(data.bon).items)

    def read(artifacts: int, nbytes: float) -> float:
        return tp.read_fixed * artifacts + nbytes / tp.read_bytes

    tables = read(2, (n_comp + n_bon) * dim * 4)  # float32 features of both sets
    soft, hard = tp.bt_soft_unit * n_b * dim, tp.bt_unit * n_b * dim
    assert [r.seconds for r in _rows(cold, "reward-model")] == pytest.approx(
        [tables, tables + soft, tables + hard]  # gold: the ceiling's own fit
    )
    # the ceiling (B's gold) is fit once, by the first cell; the others read it
    assert [r.seconds for r in _rows(cold, "ceiling")] == pytest.approx([tables + soft, 0, 0])
    samples = read(2, (n_comp + n_bon) * (4 * section.sampling.max_new_tokens + 16))
    items = samples + tp.item_seconds * (n_b + n_t)
    weak = read(1, n_comp * wdim * 4) + tp.bt_soft_unit * n_a * wdim
    prefs = sorted(r.seconds for r in _rows(cold, "preferences"))
    assert prefs == pytest.approx([items, items, items + weak])  # gold, nonexpert fit nothing
    n_prompts = len(data.parts["test"].prompts)
    boot = tp.bootstrap_unit * 200 * (n_t + n_prompts)  # PGR over T, best-of-n over T's prompts
    assert [r.seconds for r in _rows(cold, "measure")] == pytest.approx([boot] * 3)


def test_bradley_terry_fit_runs_on_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The head's lbfgs runs on one BLAS thread, as the probe's: its small products waited
    for a core held by torch or other work on two threads (docs/planning.md "Probe fits")."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from sandwich.rewards import bradley_terry

    seen: list[list[int]] = []
    fit = bradley_terry.LogisticRegression.fit

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"])
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(bradley_terry.LogisticRegression, "fit", spy)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((40, 5)), rng.standard_normal((40, 5))
    with threadpool_limits(2, user_api="blas"):  # as without OMP_NUM_THREADS on two cores
        bradley_terry.BradleyTerryHead().fit(a, b, rng.random(40))
    assert seen and seen[0] and set(seen[0]) == {1}


def test_reward_features_stop_at_the_feature_layer_and_sampling_uses_the_policys_batch(
    tmp_path: Path,
) -> None:
    """The features service reads up to ``features.layer`` (half the depth by default), so
    a features stage costs half a full forward of its tokens; a local policy decodes
    ``batch_size`` sequences at a time."""
    from sandwich.runs.cost import (
        Throughput,
        Work,
        decode_batch,
        model_arch,
        text_tokens,
        work_flops,
    )
    from sandwich.runs.planning import make_plan
    from sandwich.runs.reward.cell import load_prompts
    from sandwich.runs.reward.kind import _generate

    cfg = config(supervisors=["gold"], bon={"n": 4})
    store = ArtifactStore(tmp_path / "store")
    plan = make_plan(cfg, store, throughput=Throughput.fixed())
    prompts, _ = load_prompts(cfg.section("reward").task)
    new = cfg.section("reward").sampling.max_new_tokens
    tokens = (int(text_tokens([p.prompt for p in prompts]).sum()) + len(prompts) * new) * 4
    seq = tokens // (4 * len(prompts))
    full = work_flops(Work("forward", "fake-strong", tokens=tokens, params={"seq": seq}),
                      model_arch("fake-strong", store))  # fmt: skip
    assert _rows(plan, "features")[0].flops == pytest.approx(full / 2)
    policy = {"backend": "local", "model": "smollm2-135m", "batch_size": 32}
    work = _generate(policy, prompts, 8, new)
    assert decode_batch(work) == 32  # was the default 8: four times the decode steps
