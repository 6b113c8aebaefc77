from __future__ import annotations

from pathlib import Path

import pytest

from sandwich.errors import ConfigError
from sandwich.runs import load_config, parse_config

GOOD = {
    "name": "t",
    "tasks": [{"name": "arithmetic", "n_items": 400}],
    "weak": ["fake-weak"],
    "strong": ["fake-strong"],
    "elicitors": ["probe"],
    "seeds": [0],
}


def test_shorthands_expand() -> None:
    cfg = parse_config({**GOOD, "tasks": ["arithmetic"], "weak": ["fake-weak", "nonexpert"]})
    assert cfg.tasks[0].name == "arithmetic"
    assert cfg.weak[0].name == "weak-model" and cfg.weak[0].model == "fake-weak"
    assert cfg.weak[1].name == "nonexpert" and cfg.weak[1].model is None
    assert cfg.elicitors[0].name == "probe"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"strong": ["gema3-270m"]}, ["strong.0:", "Did you mean 'gemma3-270m'"]),
        ({"tasks": ["citys"]}, ["tasks.0.name:", "Did you mean 'cities'"]),
        ({"elicitors": ["prob"]}, ["elicitors.0.name:", "Did you mean 'probe'"]),
        ({"weak": [{"name": "nonexprt"}]}, ["weak.0.name:", "'nonexpert'"]),
        ({"features": {"pooling": "max"}}, ["features.pooling:", "'auto', 'last' or 'mean'"]),
        ({"features": {"layer": 1.5}}, ["features.layer:", "(0, 1]"]),
        ({"split": {"train_weak": 0.5, "train_strong": 0.4, "test": 0.3}}, ["split:", "sum to 1"]),
        ({"seeds": "zero"}, ["seeds"]),
        ({"colour": "red"}, ["colour: unknown field"]),
        ({"tasks": [{"name": "cities", "path": "x.jsonl"}]}, ["tasks.0:", "exactly one of"]),
        ({"weak": [{"name": "weak-model"}]}, ["weak.0.params:", "model"]),
        ({"elicitors": ["probe", "probe"]}, ["elicitors.1: 'probe' appears twice"]),
        (
            {"weak": [{"name": "nonexpert", "params": {"knowledge": 2}}]},
            ["weak.0.params: knowledge: Input should be less than or equal to 1, got 2"],
        ),
        (
            {"elicitors": [{"name": "probe-logconf", "params": {"aux_wieght": 0.5}}]},
            ["elicitors.0.params:", "aux_wieght"],
        ),
        (
            {"elicitors": [{"name": "probe-logconf", "params": {"aux_weight": 2}}]},
            ["elicitors.0.params: aux_weight: Input should be less than or equal to 1, got 2"],
        ),
    ],
)
def test_bad_fields_name_their_path_and_allowed_values(patch: dict, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**GOOD, **patch}, "c.yaml")
    msg = str(info.value)
    assert msg.startswith("c.yaml: invalid config")
    for part in expected:
        assert part in msg, msg
    assert info.value.exit_code == 2


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\ntasks: [cities\nweak: a\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+:\d+: malformed YAML"):
        load_config(p)


def test_config_must_be_a_mapping(tmp_path: Path) -> None:
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(p)


def test_missing_task_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tasks.0.path: no such file"):
        parse_config({**GOOD, "tasks": [{"path": str(tmp_path / "nope.jsonl")}]})


def test_local_dir_and_hub_ids_are_accepted_as_model_names(tmp_path: Path) -> None:
    cfg = parse_config({**GOOD, "strong": [str(tmp_path), "hf:org/model", "org/model"]})
    assert cfg.strong == [str(tmp_path), "hf:org/model", "org/model"]


def test_demo_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parents[2] / "configs" / "demo.yaml")
    assert cfg.strong == ["gemma3-270m"]
    assert {w.model for w in cfg.weak} == {"minilm-l6", "smollm2-135m"}
    # at least 5 seeds, so no group of the demo carries the few_seeds flag (docs/results.md)
    assert len(cfg.seeds) >= 5 and cfg.tasks[0].n_items is not None
    assert cfg.tasks[0].n_items >= 1000


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[2] / "configs").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_shipped_config_is_valid(path: Path) -> None:
    """w2s and protocol configs alike load as one RunConfig, unchanged."""
    import yaml

    cfg = load_config(path)
    doc = yaml.safe_load(path.read_text())
    assert cfg.tasks or "reward" in doc  # reward names its own preference task
    if "protocols" in doc:  # a protocol config (docs/protocols.md)
        assert cfg.kinds == ["protocol"] and cfg.protocols and cfg.judge
        assert cfg.seeds == doc.get("seeds", [0])
    elif "honesty" in doc:  # a section kind (docs/honesty.md)
        assert cfg.kinds == ["honesty"] and cfg.section("honesty").models
    elif "sandbagging" in doc:  # a sandbagging config (docs/sandbagging.md)
        assert cfg.kinds == ["sandbagging"] and cfg.section("sandbagging").strong
    elif "truth" in doc:  # a truth config (docs/reporters.md, "Generalisation")
        assert cfg.kinds == ["truth"] and cfg.section("truth").models
    elif "reward" in doc:  # a reward config (docs/rewards.md)
        assert cfg.kinds == ["reward"] and cfg.section("reward").supervisors
    else:
        assert cfg.kinds == ["w2s"] and cfg.weak and cfg.strong


def test_a_config_may_hold_both_kinds_and_records_only_the_fields_of_its_kinds() -> None:
    both = parse_config(
        {**GOOD, "protocols": ["naive"], "judge": {"backend": "fake", "model": "j"}}
    )
    assert both.kinds == ["w2s", "protocol"] and both.seeds == [0]
    w2s_only = parse_config(GOOD)
    assert "protocols" not in w2s_only.document() and "judge" not in w2s_only.document()
    assert {"weak", "strong", "elicitors", "judge", "protocols"} <= set(both.document())
    protocol_only = parse_config(
        {"task": "dossier", "protocols": "naive", "judge": {"backend": "fake", "model": "j"}}
    )
    assert protocol_only.kinds == ["protocol"] and protocol_only.seeds == [0]
    assert protocol_only.tasks[0].name == "dossier" and "weak" not in protocol_only.document()
    for cfg in (both, w2s_only, protocol_only):  # a full dump (defaults written) reloads as is
        again = parse_config(cfg.model_dump(mode="json"))
        assert again == cfg and again.kinds == cfg.kinds
    no_seeds = {k: v for k, v in GOOD.items() if k != "seeds"}
    assert parse_config(no_seeds).seeds == [0, 1, 2]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tasks": ["arithmetic"]}, "nothing to run"),
        ({"tasks": ["arithmetic"], "weak": ["fake-weak"]}, "strong: required for a w2s"),
        ({"tasks": ["arithmetic"], "protocols": ["naive"]}, "judge: required with protocols"),
        ({"task": "dossier", "tasks": ["dossier"], "weak": ["fake-weak"]}, "not both"),
        ({"weak": ["fake-weak"], "strong": ["fake-strong"]}, "tasks: Field required .* for w2s"),
    ],
)
def test_a_config_must_run_something_whole(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_a_model_given_to_any_supervisor_is_its_model_param() -> None:
    cfg = parse_config({**GOOD, "weak": [{"name": "weak-model", "model": "fake-weak"}]})
    assert cfg.weak[0].build_params == {"model": "fake-weak"} and cfg.weak[0].display == "fake-weak"
    labelled = parse_config({**GOOD, "weak": [{"name": "nonexpert", "label": "crowd"}]})
    assert labelled.weak[0].build_params == {} and labelled.weak[0].display == "crowd"
    with pytest.raises(ConfigError, match=r"weak\.0\.params: .*model"):  # not a nonexpert param
        parse_config({**GOOD, "weak": [{"name": "nonexpert", "model": "fake-weak"}]})


def test_batch_size_auto_keeps_the_run_id_of_the_old_default() -> None:
    """``features.batch_size: auto`` replaced the fixed default 32: a config that leaves it
    unset keeps its run id (its directory); another batch size is another run."""
    from sandwich.runs import run_id_for

    def rid(**features: object) -> str:
        return run_id_for(parse_config({**BASE, "features": features}))

    BASE = {"name": "b", "task": {"name": "arithmetic"}, "weak": ["fake-weak"],
            "strong": ["fake-strong"]}  # fmt: skip
    unset = parse_config(BASE)
    assert unset.features.batch_size == "auto"
    assert rid() == rid(batch_size="auto") == rid(batch_size=32)
    assert rid(batch_size=64) != rid()
    assert unset.document()["features"]["batch_size"] == "auto"  # config.yaml keeps it
