"""Study YAML: validation with field paths; bad files never reach the database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from sandwich.errors import ConfigError, InputFileError
from sandwich.feedback.store.db import Item, Study, make_engine, session_factory
from sandwich.feedback.store.migrate import migrate
from sandwich.feedback.store.studies import create_study
from sandwich.feedback.study_config import StudyConfig, load_study, parse_study
from sandwich.feedback.study_items import gold_pool_size, study_items


def _edit(path: Path, **changes: object) -> Path:
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))
    return path


def test_valid_study_loads_with_paths_resolved(make_study_file) -> None:
    path = make_study_file()
    cfg = load_study(path)
    assert cfg.name == "demo-study"
    assert [c.name for c in cfg.conditions] == ["unassisted", "assisted"]
    assert Path(cfg.conditions[1].path).is_absolute()
    assert Path(cfg.conditions[1].path).parent == path.parent


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"design": "mixed"}, "design"),
        ({"overlap": 0}, "overlap"),
        ({"conditions": [{"name": "a", "kind": "model-answer"}]}, "conditions.0"),
        ({"conditions": [{"name": "a", "kind": "oracle"}]}, "conditions.0.kind"),
        ({"gold": {"n": 2, "pass_threshold": 1.5}}, "gold.pass_threshold"),
        ({"name": "Has Spaces"}, "name"),
        ({"colour": "blue"}, "colour: unknown field"),
        ({"conditions": [{"name": "a"}, {"name": "a"}]}, "repeated"),
    ],
)
def test_bad_field_names_its_path(make_study_file, change: dict, expected: str) -> None:
    path = _edit(make_study_file(), **change)
    with pytest.raises(ConfigError) as err:
        load_study(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nconditions: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+:\d+: malformed YAML"):
        load_study(bad)


def test_missing_assistance_names_file_and_item(make_study_file) -> None:
    path = make_study_file()
    assist = path.parent / "assist.jsonl"
    lines = assist.read_text().splitlines()
    assist.write_text("\n".join(lines[5:]) + "\n")  # drop five items' assistance
    with pytest.raises(InputFileError, match=r"assist.jsonl: condition 'assisted': no assistance"):
        study_items(load_study(path))


def test_bad_assistance_line_names_line(make_study_file) -> None:
    path = make_study_file()
    cfg = load_study(path)
    keys = {it.key for it in study_items(cfg)}
    assist = path.parent / "assist.jsonl"
    lines = assist.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if json.loads(line)["item_id"] in keys)
    rec = json.loads(lines[n])
    rec["answer"] = "maybe"
    lines[n] = json.dumps(rec)
    assist.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        InputFileError, match=rf"assist.jsonl:{n + 1}: answer must be true or false"
    ):
        study_items(cfg)


def test_too_few_task_items(make_study_file) -> None:
    path = make_study_file(n_task=10)
    with pytest.raises(ConfigError, match=r"needs 15 items .* has 10"):
        study_items(load_study(path))


def test_gold_pool_keeps_the_main_items_and_is_checked(make_study_file) -> None:
    """A bigger pool adds gold items after the main ones: the main items of a
    seed stay the same; a pool smaller than n or larger than the task fails."""
    cfg = load_study(make_study_file())
    keys = {
        pool: [it.key for it in study_items(_gold(cfg, pool)) if it.role == "main"]
        for pool in (2, 6, 20)
    }
    assert keys[2] == keys[6] == keys[20]
    assert gold_pool_size(cfg, 40) == 6 and gold_pool_size(cfg, 16) == 3
    with pytest.raises(ConfigError, match=r"gold pool 30 .* has 40"):
        study_items(_gold(cfg, 30))
    with pytest.raises(ConfigError, match=r"gold.*pool \(1\) must hold at least n \(2\)"):
        parse_study({**cfg.model_dump(mode="json"), "gold": {"n": 2, "pool": 1}})


def _gold(cfg: StudyConfig, pool: int) -> StudyConfig:
    return cfg.model_copy(update={"gold": cfg.gold.model_copy(update={"pool": pool})})


def test_items_are_disjoint_and_seeded(make_study_file) -> None:
    cfg = load_study(make_study_file())
    items = study_items(cfg)
    roles = [it.role for it in items]
    # the gold pool: 3 x gold.n by default
    assert roles.count("training") == 1 and roles.count("gold") == 6 and roles.count("main") == 12
    assert len({it.key for it in items}) == len(items)
    assert [it.key for it in study_items(cfg)] == [it.key for it in items]
    other = study_items(cfg.model_copy(update={"seed": 1}))
    assert [it.key for it in other] != [it.key for it in items]
    assert all(set(it.assistance) == {"assisted"} for it in items)


def test_create_is_idempotent_and_never_overwrites(tmp_path: Path, make_study_file) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    Sessions = session_factory(migrate(url))
    path = make_study_file()
    with Sessions.begin() as s:
        first = create_study(s, load_study(path)).id
    with Sessions.begin() as s:
        assert create_study(s, load_study(path)).id == first  # same config: no-op
    changed = _edit(path, overlap=3)
    with pytest.raises(ConfigError, match="already exists"), Sessions.begin() as s:
        create_study(s, load_study(changed))
    with Sessions() as s:
        assert s.scalar(select(func.count()).select_from(Study)) == 1
        assert s.scalar(select(func.count()).select_from(Item)) == 19  # gold pool of 6


def test_study_stored_before_new_fields_is_the_same_study(tmp_path: Path, make_study_file) -> None:
    """A config stored by an older version (no ``entry``, no ``gold.pool``) still
    matches its file: creating it again is a no-op, not a conflict."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    Sessions = session_factory(migrate(url))
    path = make_study_file()
    with Sessions.begin() as s:
        study = create_study(s, load_study(path))
        old = dict(study.config)
        old.pop("entry")
        old["gold"] = {k: v for k, v in old["gold"].items() if k != "pool"}
        study.config = old
        first = study.id
    with Sessions.begin() as s:
        assert create_study(s, load_study(path)).id == first


def test_synthetic_study_is_created_with_its_answer_key(tmp_path: Path) -> None:
    from sandwich.testing.synthetic_study import create_synthetic_study

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    truth = create_synthetic_study(url, tmp_path / "files", n_items=10)
    assert len(truth) == 10 + 6 + 1  # main, gold pool (3 x 2) and training items
    for text, gold in truth.items():
        assert gold == (int(text.split()[2]) % 2 == 0), text  # even numbers are true
    with session_factory(make_engine(url))() as s:
        assert s.scalar(select(Study.name)) == "load"


def test_failed_create_writes_nothing(tmp_path: Path, make_study_file) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    Sessions = session_factory(migrate(url))
    path = make_study_file(n_items=100)  # more than the task has
    with pytest.raises(ConfigError), Sessions.begin() as s:
        create_study(s, load_study(path))
    with Sessions() as s:
        assert s.scalar(select(func.count()).select_from(Study)) == 0


def test_bad_database_url() -> None:
    with pytest.raises(ConfigError, match="unsupported database"):
        make_engine("mysql://nobody@localhost/x")
    with pytest.raises(ConfigError, match="bad database URL"):
        make_engine("not a url at all")


def test_migrations_match_the_models(tmp_path: Path) -> None:
    """The Alembic migration creates exactly the schema the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from sandwich.feedback.store.db import Base

    engine = migrate(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    diff = [d for d in diff if not (d[0] == "add_index" or d[0] == "remove_index")]
    assert diff == []


def test_shipped_study_file_is_valid() -> None:
    path = Path(__file__).parents[2] / "studies" / "cities-assisted.yaml"
    cfg = load_study(path)
    assert {c.kind for c in cfg.conditions} >= {"none", "model-answer"}
    assert len(study_items(cfg)) == cfg.n_items + (cfg.gold.pool or 0) + cfg.training.n
