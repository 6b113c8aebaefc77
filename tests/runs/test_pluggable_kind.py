"""A new experiment kind is one package and one registry entry: no core module changes.

The ``tally`` kind below exists only in this module. Registered at run time, it is
configured by a ``tally:`` section, planned, run on the local executor through
``sandwich.runs.run``, streamed cell by cell, summarised into results.json (which
parses back), rendered on the report page and in the terminal, listed by
``sandwich plan`` and ``sandwich kinds`` -- with nothing about it in ``sandwich``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, Field, TypeAdapter
from rich.table import Table as RichTable

from sandwich.cli import main
from sandwich.config import Strict
from sandwich.errors import ConfigError
from sandwich.report.page import KindReport, table_section
from sandwich.report.rows import Table, num
from sandwich.results import RunResults, parse_results
from sandwich.runs import load_results, parse_config, plan_cells, result_tables, run
from sandwich.runs.config import RunConfig, TaskConfig
from sandwich.runs.context import RunContext
from sandwich.runs.executor import LocalExecutor
from sandwich.runs.kinds import (
    KINDS,
    KindCell,
    KindSchema,
    StagePlan,
    Summary,
    Work,
    register_kind,
    stage_resources,
)
from sandwich.runs.plan import Cell
from sandwich.runs.runner import CELLS_DIR
from sandwich.store import ArtifactStore

FIXTURES = Path(__file__).parents[1] / "fixtures" / "results_v1"

# --- the kind's schema: pydantic only -------------------------------------------------


class TallySection(Strict):
    """The ``tally:`` section: count each seed's test items whose label is True."""

    max_items: int = Field(40, ge=1, description="count among the first items of T only")
    label: str = Field("share true", description="the column title")


class TallyCell(KindCell):
    kind: Literal["tally"] = "tally"
    task: TaskConfig
    seed: int
    max_items: int

    @property
    def label(self) -> str:
        return f"{self.task.label} | seed {self.seed}"


class TallyRecord(BaseModel):
    kind: Literal["tally"] = "tally"
    task: str
    seed: int
    n: int
    share: float


class TallyGroup(BaseModel):
    kind: Literal["tally"] = "tally"
    task: str
    seeds: list[int]
    share: float


def _check(config: RunConfig, section: TallySection) -> list[str]:
    """A rule across the config: no more items than a task has."""
    return [
        f"tally.max_items: {section.max_items} is more than tasks.{i}.n_items ({t.n_items})"
        for i, t in enumerate(config.tasks)
        if t.n_items is not None and section.max_items > t.n_items
    ]


TALLY_SCHEMA = KindSchema(
    cell=TallyCell,
    cell_result=TallyRecord,
    group_result=TallyGroup,
    section=TallySection,
    check=_check,
)

# --- the kind's implementation --------------------------------------------------------


class TallyKind:
    """Share of true statements among each seed's test items."""

    name = "tally"

    def plan(self, config: RunConfig) -> list[TallyCell]:
        section: TallySection = config.section("tally")
        return [TallyCell(task=t, seed=s, max_items=section.max_items)
                for t in config.tasks for s in config.seeds]  # fmt: skip

    def prepare(self, ctx: RunContext, cells: Sequence[TallyCell]) -> None:
        for cell in cells:
            ctx.task(cell.task)

    def run_cell(self, ctx: RunContext, cell: TallyCell) -> TallyRecord:
        test = ctx.splits(cell.task, cell.seed).test[: cell.max_items]
        share = sum(it.label for it in test) / len(test)
        return TallyRecord(task=cell.task.label, seed=cell.seed, n=len(test), share=share)

    def resources(self, config: RunConfig, cell: TallyCell) -> dict[str, float]:
        return stage_resources(config, "probe")

    def cell_record(self, ctx: RunContext, outcome: TallyRecord) -> dict[str, Any]:
        return outcome.model_dump(mode="json")

    def summarise(self, ctx: RunContext, outcomes: Sequence[TallyRecord]) -> Summary:
        tasks = dict.fromkeys(o.task for o in outcomes)
        groups = []
        for task in tasks:
            mine = [o for o in outcomes if o.task == task]
            share = sum(o.share for o in mine) / len(mine)
            groups.append(TallyGroup(task=task, seeds=[o.seed for o in mine], share=share))
        return Summary(cells=list(outcomes), groups=list(groups), warnings=["tally: a toy kind"])

    def _rows(self, results: RunResults) -> Table:
        title = parse_config(results.config).section("tally").label
        rows = [(g.task, str(len(g.seeds)), num(g.share)) for g in results.groups_of("tally")]
        return Table(("task", "seeds", title), rows)

    def report(self, results: RunResults, run_dir: Path) -> KindReport:
        return KindReport([table_section("Tally per task", self._rows(results))])

    def tables(self, results: RunResults) -> list[RichTable]:
        table = RichTable(title="tally per task")
        rows = self._rows(results)
        for col in rows.header:
            table.add_column(col)
        for row in rows.rows:
            table.add_row(*row)
        return [table]

    def stages(self, ctx: RunContext, cells: Sequence[TallyCell]) -> list[StagePlan]:
        return [StagePlan("tally", i, None, (Work("items", items=c.max_items),), cached=False)
                for i, c in enumerate(cells)]  # fmt: skip


# --- the tests ------------------------------------------------------------------------

CONFIG: dict[str, Any] = {
    "name": "t",
    "task": {"name": "arithmetic", "n_items": 300},
    "seeds": [0, 1],
    "tally": {"max_items": 30, "label": "true share"},
}


@pytest.fixture
def tally() -> Iterator[None]:
    """The tally kind, registered for one test (the one entry a new kind adds)."""
    register_kind("tally", impl=TallyKind, schema=TALLY_SCHEMA, summary="share of true items")
    yield
    KINDS.remove("tally")


def test_a_registered_kind_plans_runs_streams_and_reports(tally: None, tmp_path: Path) -> None:
    config = parse_config(CONFIG)
    assert config.kinds == ["tally"]
    cells = plan_cells(config)
    assert [c.label for c in cells] == ["arithmetic | seed 0", "arithmetic | seed 1"]

    out = run(config, runs_root=tmp_path, executor=LocalExecutor(False), progress=False)

    streamed = sorted((out.run_dir / CELLS_DIR).glob("*.json"))
    docs = [json.loads(p.read_text()) for p in streamed]
    assert [d["cell"] for d in docs] == [c.model_dump(mode="json") for c in cells]
    assert [d["outcome"]["share"] for d in docs] == [c.share for c in out.results.cells]
    again = load_results(out.run_dir)
    assert again == out.results
    assert all(isinstance(c, TallyRecord) for c in again.cells_of("tally"))
    (group,) = again.groups_of("tally")
    assert isinstance(group, TallyGroup) and group.seeds == [0, 1]
    assert group.share == pytest.approx(sum(c.share for c in again.cells) / 2)
    assert 0 < group.share < 1 and [c.n for c in again.cells] == [30, 30]
    assert again.config["tally"] == {"max_items": 30, "label": "true share"}
    md = (out.run_dir / "report.md").read_text()
    assert "## Tally per task" in md and "true share" in md and "tally: a toy kind" in md
    (table,) = result_tables(again)
    assert table.title == "tally per task" and table.row_count == 1


def test_a_kind_runs_next_to_the_flat_kinds_and_changes_only_its_own_id(tally: None) -> None:
    w2s = {**{k: v for k, v in CONFIG.items() if k != "tally"},
           "weak": ["fake-weak"], "strong": ["fake-strong"]}  # fmt: skip
    both = parse_config({**w2s, "tally": {}})
    assert both.kinds == ["w2s", "tally"]
    assert [c.kind for c in plan_cells(both)] == ["w2s", "w2s", "tally", "tally"]
    assert both.document()["tally"] == {"max_items": 40, "label": "share true"}
    assert "tally" not in parse_config(w2s).document()


def test_cells_of_every_kind_travel_as_json_and_come_back_as_their_model(tally: None) -> None:
    """What an executor (Ray) ships: a cell's JSON, validated back by its kind."""
    w2s = {"weak": ["fake-weak"], "strong": ["fake-strong"]}
    protocol = {"protocols": ["naive"], "judge": {"backend": "fake", "model": "j"}}
    config = parse_config({**CONFIG, **w2s, **protocol})
    adapter: TypeAdapter[Any] = TypeAdapter(Cell)
    cells = plan_cells(config)
    assert {c.kind for c in cells} == {"w2s", "protocol", "tally"}
    for cell in cells:
        back = adapter.validate_json(adapter.dump_json(cell))
        assert type(back) is type(cell) and back == cell
    with pytest.raises(ValueError, match=r"unknown experiment kind 'nope' \(known kinds: w2s"):
        adapter.validate_python({"kind": "nope"})


def test_a_bad_section_fails_at_load_naming_the_field_and_the_allowed_ones(tally: None) -> None:
    base = {k: v for k, v in CONFIG.items() if k != "tally"}
    cases = {
        "tally.max_items: Input should be greater than or equal to 1": {"max_items": 0},
        r"tally.colour: unknown field \(allowed: max_items, label\)": {"colour": "red"},
        r"tally.max_items: 5000 is more than tasks.0.n_items \(300\)": {"max_items": 5000},
    }
    for message, section in cases.items():
        with pytest.raises(ConfigError, match=message):
            parse_config({**base, "tally": section})
    with pytest.raises(
        ConfigError, match=r"tallies: unknown field \(allowed: .*sections of kinds: .*tally"
    ):
        parse_config({**base, "tallies": {}})
    with pytest.raises(ConfigError, match=r"nothing to run: .* or a tally: section"):
        parse_config(base)


def test_a_kind_named_like_a_config_field_is_refused() -> None:
    register_kind("seeds", impl=TallyKind, schema=TALLY_SCHEMA, summary="a clash")
    try:
        with pytest.raises(ConfigError, match="experiment kinds named like a config field: seeds"):
            parse_config(CONFIG)
    finally:
        KINDS.remove("seeds")


def test_without_its_registry_entry_the_section_and_the_results_are_refused(
    tally: None, tmp_path: Path
) -> None:
    out = run(parse_config(CONFIG), runs_root=tmp_path, progress=False)
    KINDS.remove("tally")
    try:
        with pytest.raises(ConfigError, match=r"tally: unknown field"):
            parse_config(CONFIG)
        with pytest.raises(
            ConfigError,
            match=r"cells.0\n.*unknown experiment kind 'tally' \(known kinds: w2s, protocol[,)]",
        ):
            load_results(out.run_dir)
    finally:
        register_kind("tally", impl=TallyKind, schema=TALLY_SCHEMA, summary="again")


def test_sandwich_plan_lists_the_kinds_cells(
    tally: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tally.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    assert main(["plan", str(path), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    rows = [(r["kind"], r["stage"], r["cell"], r["state"]) for r in plan["rows"]]
    assert rows == [("tally", "tally", 0, "runs"), ("tally", "tally", 1, "runs")]
    assert main(["plan", str(path)]) == 0
    assert "arithmetic | seed 1" in capsys.readouterr().out


def test_sandwich_kinds_lists_every_registered_kind_with_its_description(
    tally: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kinds"]) == 0
    lines = capsys.readouterr().out.splitlines()
    cells = [ln.split("│") for ln in lines if ln.count("│") >= 3]
    rows = {c[1].strip(): "│".join(c) for c in cells if c[1].strip()}
    assert list(rows) == KINDS.names()  # the built-in kinds in registration order, then tally
    assert list(rows)[:2] == ["w2s", "protocol"] and list(rows)[-1] == "tally"
    assert "honesty" in rows and "honesty: {...}" in rows["honesty"]
    assert "sandbagging" in rows
    assert "truth" in rows
    assert "reward" in rows and "reward: {...}" in rows["reward"]
    assert "PGR vs the ceiling" in rows["w2s"] and "weak, strong" in rows["w2s"]
    assert (
        "a judge alone or assisted" in rows["protocol"] and "protocols, judge" in rows["protocol"]
    )
    assert "share of true items" in rows["tally"] and "tally: {...}" in rows["tally"]


def test_listing_kinds_and_parsing_results_import_no_model_stack() -> None:
    """The registry is lazy: the schemas of the kinds a file names load, no torch."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from sandwich.results import parse_results\n"
        "from sandwich.results.kinds import KINDS\n"
        "assert [s.summary for s in KINDS]\n"
        f"for kind in ('w2s', 'protocol'):\n"
        f"    r = parse_results((Path({str(FIXTURES)!r}) / kind / 'results.json').read_text())\n"
        "    assert r.kinds == [kind], r.kinds\n"
        "heavy = [m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_results_records_keep_their_own_model_in_memory_and_on_disk() -> None:
    text = (FIXTURES / "w2s" / "results.json").read_text()
    res = parse_results(text)
    again = parse_results(res.model_dump_json())
    assert again == res and again.w2s_cells() == res.cells_of("w2s") == res.cells
    assert res.model_dump()["cells"][0]["kind"] == "w2s"
    bad = {**json.loads(res.model_dump_json()), "groups": [{"kind": "tally"}]}
    with pytest.raises(ValueError, match=r"groups.0\n.*unknown experiment kind 'tally'"):
        RunResults.model_validate(bad)


def test_a_ray_worker_rebuilds_the_kinds_config_and_cell_from_what_is_shipped(
    tally: None, tmp_path: Path
) -> None:
    """The body of a Ray task, run here: the config document and the cell's JSON are all
    it gets, and the registry turns them back into the section and a TallyCell."""
    from sandwich.runs.ray_executor import prepare_shipped, run_shipped

    config = parse_config(CONFIG)
    cells = plan_cells(config)
    doc, shipped = config.document(), [json.loads(c.model_dump_json()) for c in cells]
    prepare_shipped(doc, "tally", shipped, str(tmp_path))
    outcome = run_shipped(doc, shipped[1], str(tmp_path))
    assert isinstance(outcome, TallyRecord) and (outcome.seed, outcome.n) == (1, 30)
    ctx = RunContext(config, ArtifactStore(tmp_path), progress=False)
    assert outcome == TallyKind().run_cell(ctx, cells[1])
