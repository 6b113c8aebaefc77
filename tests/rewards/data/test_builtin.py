"""Built-in preference tasks: prompts from the packaged facts and their gold programs."""

from __future__ import annotations

import math

import pytest

from sandwich.errors import ConfigError, UnknownNameError
from sandwich.rewards.data import REWARD_TASKS, PreferenceSet, load_reward_task
from sandwich.rewards.data.arith import FEW_SHOT as ARITH_SHOTS
from sandwich.rewards.data.arith import ArithGold, first_number
from sandwich.rewards.data.geo import FEW_SHOT, GeoGold, named_country
from sandwich.tasks.geo import countries


def test_registry_lists_the_builtins() -> None:
    assert REWARD_TASKS.names() == ["arith-prefs", "geo-prefs"]
    assert all(e.summary for e in REWARD_TASKS)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (" China.", "CN"),
        (" the USA.", "US"),
        (" the U.S.A.", "US"),
        (" the U.S. state of Texas.", "US"),
        (" the United States of America.", "US"),
        (" America.", "US"),
        (" the UK.", "GB"),
        (" England, near London.", "GB"),
        (" Holland.", "NL"),
        (" the Netherlands.", "NL"),
        (" Côte d’Ivoire.", "CI"),
        (" the Democratic Republic of the Congo.", "CD"),
        (" the Republic of the Congo.", "CG"),
        (" Papua New Guinea.", "PG"),
        (" Equatorial Guinea.", "GQ"),
        (" Niger.", "NE"),
        (" Nigeria.", "NG"),
        (" North Korea.", "KP"),
        (" Korea.", "KR"),
        (" South America, in Peru.", "PE"),
        (" New Mexico, in the US.", "US"),
        (" Brazil, not Argentina.", "BR"),  # the first country named
        (" CHINA", "CN"),
        (" Sichuan province.", None),
        (" Asia.", None),
        (" a city that many of us love.", None),  # "us" is no country
        ("", None),
    ],
)
def test_named_country_reads_the_first_country_with_aliases(text: str, code: str | None) -> None:
    assert named_country(text) == code


def _geo(n: int = 40, seed: int = 0, **params: object) -> list:  # type: ignore[type-arg]
    prompts, gold = load_reward_task("geo-prefs", n, seed, params=dict(params))
    assert isinstance(gold, GeoGold)
    return prompts


def test_geo_gold_is_graded_country_continent_else() -> None:
    gold = GeoGold()
    cs = countries()
    for p in _geo():
        truth = cs[p.metadata["country_code"]]
        same = next(c for c in cs.values() if c.continent == truth.continent and c != truth)
        other = next(c for c in cs.values() if c.continent != truth.continent)
        assert gold(p, f" {truth.name}.") == 1.0
        assert gold(p, f" {same.name}.") == 0.5
        assert gold(p, f" {other.name}.") == 0.0
        assert gold(p, " a big city.") == 0.0


def test_geo_prompts_are_deterministic_distinct_and_grouped_by_country() -> None:
    a, b = _geo(seed=1), _geo(seed=1)
    assert [p.id for p in a] == [p.id for p in b] != [p.id for p in _geo(seed=2)]
    assert len({p.id for p in a}) == 40
    for p in a:
        assert p.prompt == FEW_SHOT + f"The city of {p.metadata['city']} is in"  # default: shots
        assert p.group == p.metadata["country"] and 0.0 <= p.difficulty <= 1.0
        assert p.completions == ()
    assert len({p.group for p in a}) < 40  # several cities share a country
    assert PreferenceSet(a).split(seed=0)  # groups small enough to split


def test_geo_without_prefix_and_pool() -> None:
    for p in _geo(n=2, shots=False):
        assert p.prompt == f"The city of {p.metadata['city']} is in"
    famous = {p.metadata["city"] for p in _geo(n=10, pool=10)}
    assert "Shanghai" in famous and len(famous) == 10


def test_arith_gold_grades_the_first_number_by_its_error() -> None:
    prompts, gold = load_reward_task("arith-prefs", 30, 0)
    assert isinstance(gold, ArithGold)
    for p in prompts:
        ans = p.metadata["answer"]
        a, b, op = p.metadata["a"], p.metadata["b"], p.metadata["op"]
        assert ans == (a + b if op == "+" else a * b)
        assert p.prompt == ARITH_SHOTS + f"What is {a} {op} {b}? Answer:"
        assert p.group == str(min(a, b))
        scale = max(1.0, 0.1 * ans)
        assert gold(p, f" {ans}") == 1.0
        assert gold(p, f" {ans + 1} or so") == pytest.approx(math.exp(-1 / scale))
        assert gold(p, f" {ans} then {ans + 5}") == 1.0
        assert gold(p, " I don't know.") == 0.0
        assert gold(p, f" {ans + 1}") < gold(p, f" {ans}") and gold(p, f" {ans + 100}") < gold(
            p, f" {ans + 1}"
        )
    assert {p.metadata["op"] for p in prompts} == {"+", "*"}
    (plain, _), _ = load_reward_task("arith-prefs", 2, 0, params={"shots": False})
    assert plain.prompt.startswith("What is ")


def test_arith_gold_scale_is_a_parameter() -> None:
    _, gold = load_reward_task("arith-prefs", 2, 0, params={"gold": {"rel_scale": 1.0}})
    assert isinstance(gold, ArithGold) and gold.rel_scale == 1.0


@pytest.mark.parametrize(
    ("text", "value"),
    [(" 42", 42), (" 1,234.", 1234), (" -7", -7), (" x12y", 12), (" 3.5", 3), (" none", None)],
)
def test_first_number(text: str, value: int | None) -> None:
    assert first_number(text) == value


def test_load_reward_task_errors() -> None:
    with pytest.raises(UnknownNameError, match="geo-prefs"):
        load_reward_task("geo-pref", 5)
    with pytest.raises(ConfigError, match="ops"):
        load_reward_task("arith-prefs", 5, params={"ops": "-"})
    with pytest.raises(ConfigError, match="n_items"):
        load_reward_task("geo-prefs", 100000)
