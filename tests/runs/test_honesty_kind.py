"""The honesty kind end to end on the fake generation backend: config, plan, run, results,
resume through the response cache, report, plan listing, bad input.

The fake backend's ``score_choices`` leans toward the choice mentioned most often in the
conversation, so it follows a user's suggestion (it is a sycophant by construction) and a
challenge that repeats its own answer makes it surer of that answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandwich.errors import ConfigError
from sandwich.models.generation import (
    CachedGenerator,
    FakeGenerator,
    ResponseCache,
    default_cache_path,
)
from sandwich.runs import load_config, load_results, parse_config, plan_cells, result_tables, run
from sandwich.runs.cost import Throughput
from sandwich.runs.honesty.schema import HonestyCell, HonestyGroup, HonestyRow
from sandwich.runs.planning import make_plan
from sandwich.runs.runner import CELLS_DIR
from sandwich.store import ArtifactStore

CONFIG_FILE = Path(__file__).parents[2] / "configs" / "honesty.yaml"
# fixed rates: planning takes no measurement of the machine
RATES = Throughput.fixed()
FAKE = {"backend": "fake", "model": "m"}
BASE: dict[str, Any] = {
    "name": "h",
    "task": {"name": "cities", "n_items": 40, "seed": 0},
    "seeds": [0],
    "bootstrap": {"n_boot": 200},
    "honesty": {"models": [FAKE]},
}


def _config(**honesty: Any) -> Any:
    return parse_config({**BASE, "honesty": {**BASE["honesty"], **honesty}})


def _cached(model: str = "m") -> tuple[FakeGenerator, CachedGenerator]:
    inner = FakeGenerator(model=model)
    return inner, CachedGenerator(inner, ResponseCache(default_cache_path()))


def test_the_shipped_config_loads_and_plans_one_cell_per_task_model_and_seed() -> None:
    config = load_config(CONFIG_FILE)
    assert config.kinds == ["honesty"]
    section = config.section("honesty")
    assert section.models == [{"backend": "local", "model": "smollm2-135m"}]
    assert section.conditions == ["alone", "suggest_right", "suggest_wrong", "challenge"]
    (cell,) = plan_cells(config)
    assert isinstance(cell, HonestyCell) and cell.label == "dossier | smollm2-135m | seed 0"
    two = parse_config({**BASE, "seeds": [0, 1], "honesty": {"models": [FAKE, "smollm2-135m"]}})
    labels = [c.label for c in plan_cells(two)]
    models = ["m", "m", "smollm2-135m", "smollm2-135m"]
    assert labels == [f"cities | {m} | seed {s}" for m, s in zip(models, [0, 1, 0, 1], strict=True)]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"models": []}, r"honesty.models: List should have at least 1 item"),
        (
            {"models": [FAKE], "conditions": ["alone", "flatter"]},
            r"honesty.conditions: .*unknown condition\(s\) \['flatter'\]",
        ),
        ({"models": [FAKE], "conditions": ["alone", "alone"]}, r"honesty.conditions: .*distinct"),
        ({"models": [FAKE], "max_items": 0}, r"honesty.max_items: Input should be greater"),
        ({"models": [FAKE], "colour": 1}, r"honesty.colour: unknown field \(allowed: models"),
        ({"models": [{"backend": "nope", "model": "x"}]}, r"honesty.models.0.backend: .*'nope'"),
        ({"models": ["no-such-model"]}, r"honesty.models.0.model: .*no-such-model"),
        ({"models": [FAKE, FAKE]}, r"two specs name the same model"),
        ({}, r"honesty.models: Field required"),
    ],
)
def test_a_bad_section_fails_at_load_naming_the_field(
    section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({**BASE, "honesty": section})


def test_run_streams_cells_and_results_json_parses_back(tmp_path: Path) -> None:
    out = run(_config(), runs_root=tmp_path, progress=False)
    res = load_results(out.run_dir)
    assert res == out.results and res.kinds == ["honesty"]
    (row,) = res.cells_of("honesty")
    assert isinstance(row, HonestyRow) and (row.task, row.model, row.n_items) == ("cities", "m", 40)
    assert row.conditions == ["alone", "suggest_right", "suggest_wrong", "challenge"]
    assert row.metrics[0].group == "all"
    assert {m.group for m in row.metrics[1:]} <= {
        f"difficulty={b}" for b in ("easy", "medium", "hard")
    }
    m = row.overall
    # the fake backend follows the user: every suggestion taken, either way
    assert m.accuracy["suggest_right"].rate == 1.0 and m.accuracy["suggest_wrong"].rate == 0.0
    assert m.flip_to_wrong is not None and m.flip_to_wrong.rate == 1.0
    assert m.flip_to_right is not None and m.flip_to_right.rate == 1.0
    acc = m.accuracy["alone"]
    assert acc.low <= acc.rate <= acc.high and acc.n == 40
    assert m.drop_suggest_wrong is not None and m.drop_suggest_wrong.value == pytest.approx(
        acc.rate
    )
    # a challenge repeating its own answer makes it surer of it: P(first answer) rises
    assert m.challenge_p_shift is not None and m.challenge_p_shift.high < 0
    assert 0 <= row.ece_low <= row.ece <= 1 and sum(b.n for b in row.reliability) == 40
    streamed = [json.loads(p.read_text()) for p in sorted((out.run_dir / CELLS_DIR).glob("*.json"))]
    assert [d["outcome"]["ece"] for d in streamed] == [row.ece]
    assert row.records is not None
    lines = (out.run_dir / row.records).read_text().splitlines()
    assert len(lines) == 4 * 40 and json.loads(lines[0])["condition"] == "alone"
    assert res.models["honesty m"]["backend"] == "fake"


def test_a_second_run_asks_the_backend_nothing(tmp_path: Path) -> None:
    inner, cached = _cached()
    first = run(_config(), runs_root=tmp_path, generators={"m": cached}, progress=False)
    assert len(inner.calls) == 4 * 40 and cached.misses == 4 * 40
    inner2, cached2 = _cached()
    again = run(_config(), runs_root=tmp_path, generators={"m": cached2}, progress=False)
    assert inner2.calls == [] and cached2.hits == 4 * 40
    assert again.results.cells == first.results.cells


def test_the_report_has_the_section_table_and_plots(tmp_path: Path) -> None:
    out = run(_config(max_items=20), runs_root=tmp_path, progress=False)
    md = (out.run_dir / "report.md").read_text()
    assert "## Sycophancy" in md and "flip-&gt;wrong" in md and "ECE alone" in md
    assert "| cities | m | 0 | all | 20 |" in md
    plots = sorted(p.name for p in (out.run_dir / "plots").iterdir())
    assert plots == [
        "honesty-accuracy-cities-m-seed0.png",
        "honesty-reliability-cities-m-seed0.png",
    ]
    assert all((out.run_dir / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in plots)
    assert "](plots/honesty-accuracy-cities-m-seed0.png)" in md
    page = (out.run_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "<h2>Sycophancy</h2>" in page
    (table,) = result_tables(out.results)
    assert table.row_count == 1 and "flip->wrong" in [c.header for c in table.columns]


def test_seeds_draw_different_items_and_are_averaged(tmp_path: Path) -> None:
    config = parse_config({**BASE, "seeds": [0, 1], "honesty": {"models": [FAKE], "max_items": 15}})
    out = run(config, runs_root=tmp_path, progress=False)
    rows = out.results.cells_of("honesty")
    ids = [{json.loads(x)["item_id"] for x in (out.run_dir / r.records).read_text().splitlines()}
           for r in rows]  # fmt: skip
    assert [len(i) for i in ids] == [15, 15] and ids[0] != ids[1]
    (group,) = out.results.groups_of("honesty")
    assert isinstance(group, HonestyGroup) and group.seeds == [0, 1]
    accs = [r.overall.accuracy["alone"].rate for r in rows]
    assert group.metrics["acc_alone"].mean == pytest.approx(sum(accs) / 2)
    assert "## Sycophancy over seeds" in (out.run_dir / "report.md").read_text()


def test_a_model_at_chance_or_always_one_answer_is_warned_about(tmp_path: Path) -> None:
    out = run(_config(), runs_root=tmp_path, progress=False)
    (row,) = out.results.cells_of("honesty")
    acc = row.overall.accuracy["alone"]
    at_chance = acc.low <= 0.5 <= acc.high
    warned = [w for w in out.results.warnings if "not distinguishable from chance" in w]
    assert bool(warned) == at_chance
    assert any("only 40 items" in w for w in out.results.warnings)


def test_conditions_can_be_chosen_and_alone_is_always_asked(tmp_path: Path) -> None:
    inner, cached = _cached()
    out = run(_config(conditions=["suggest_wrong"]), runs_root=tmp_path,
              generators={"m": cached}, progress=False)  # fmt: skip
    (row,) = out.results.cells_of("honesty")
    assert row.conditions == ["alone", "suggest_wrong"] and len(inner.calls) == 2 * 40
    assert row.overall.flip_to_right is None and row.overall.challenge_flip is None


def test_a_backend_that_cannot_score_choices_is_a_clear_error(tmp_path: Path) -> None:
    config = _config(models=[{**FAKE, "can_score": False}])
    with pytest.raises(ConfigError, match=r"backend 'fake' cannot score choices"):
        run(config, runs_root=tmp_path, progress=False)


def test_the_plan_lists_each_cells_answers_and_measure_with_their_cost(tmp_path: Path) -> None:
    """``sandwich plan``: the answers (a forward per condition, choice and item of the local
    model) and the bootstraps; both run every time (the response cache is not the store)."""
    config = parse_config({**BASE, "honesty": {"models": ["smollm2-135m"], "max_items": 10}})
    plan = make_plan(config, ArtifactStore(tmp_path), throughput=RATES)
    rows = [(r.kind, r.stage, r.cell, r.state) for r in plan.rows]
    assert rows == [("honesty", "answers", 0, "runs"), ("honesty", "measure", 0, "runs")]
    answers, _ = plan.rows
    assert answers.flops > 0 and answers.seconds is not None and answers.seconds > 0
    few = make_plan(parse_config({**BASE, "honesty": {"models": ["smollm2-135m"], "max_items": 5,
                                                      "conditions": ["alone"]}}),
                    ArtifactStore(tmp_path), throughput=RATES)  # fmt: skip
    # 5 items x 1 condition x 2 choices instead of 10 x 4 x 2 forwards
    assert few.rows[0].flops == pytest.approx(answers.flops / 8, rel=0.1)


class _Broken(FakeGenerator):
    """Fails on its first call: a run killed while asking its second model."""

    def score_choices(self, requests: Any) -> Any:
        raise RuntimeError("backend went away")


def test_a_run_that_failed_midway_asks_again_only_what_is_missing(tmp_path: Path) -> None:
    config = _config(models=[FAKE, {"backend": "fake", "model": "n"}])
    inner_m, cached_m = _cached("m")
    broken = CachedGenerator(_Broken(model="n"), ResponseCache(default_cache_path()))
    with pytest.raises(RuntimeError, match="backend went away"):
        run(config, runs_root=tmp_path, generators={"m": cached_m, "n": broken}, progress=False)
    assert len(inner_m.calls) == 4 * 40
    (inner_m2, cached_m2), (inner_n, cached_n) = _cached("m"), _cached("n")
    out = run(config, runs_root=tmp_path, generators={"m": cached_m2, "n": cached_n},
              progress=False)  # fmt: skip
    assert inner_m2.calls == [] and len(inner_n.calls) == 4 * 40
    assert [r.model for r in out.results.cells_of("honesty")] == ["m", "n"]


def test_cells_travel_as_json_and_come_back_as_honesty_cells() -> None:
    """What the Ray executor ships: a cell's JSON, validated back by its kind."""
    from pydantic import TypeAdapter

    from sandwich.runs.plan import Cell

    adapter: TypeAdapter[Any] = TypeAdapter(Cell)
    for cell in plan_cells(_config(models=[FAKE, "smollm2-135m"])):
        back = adapter.validate_json(adapter.dump_json(cell))
        assert isinstance(back, HonestyCell) and back == cell


def test_tracking_names_each_models_cell_apart(tmp_path: Path) -> None:
    """MLflow / W&B entries are keyed by the record's names: the model is one of them."""
    from sandwich.runs.tracking.records import entries

    config = _config(models=[FAKE, {"backend": "fake", "model": "n"}], max_items=10)
    out = run(config, runs_root=tmp_path, progress=False)
    cells = [e for e in entries(out.results) if e.record == "cell"]
    assert [e.name for e in cells] == ["cities | m | seed 0", "cities | n | seed 0"]
    assert len({e.key for e in cells}) == 2
    assert cells[0].metrics["metrics.0.accuracy.alone.rate"] >= 0
