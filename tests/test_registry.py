from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from sandwich.errors import ConfigError, UnknownNameError
from sandwich.registry import Registry, spec_of


class Thing:
    """A thing for tests.

    More text.
    """

    def __init__(self, size: int = 1) -> None:
        self.size = size


def make_registry() -> Registry[Thing]:
    reg: Registry[Thing] = Registry("thing")
    reg.register("apple")(Thing)
    reg.register("apricot", summary="orange fruit")(Thing)
    return reg


def test_build_records_construction_arguments() -> None:
    reg = make_registry()
    obj = reg.build("apple", size=3)
    assert obj.size == 3
    spec = spec_of(obj)
    assert spec is not None
    assert spec.to_dict() == {"kind": "thing", "name": "apple", "params": {"size": 3}, "version": 1}


def test_summary_from_docstring_first_line_or_explicit() -> None:
    reg = make_registry()
    assert reg.entry("apple").summary == "A thing for tests."
    assert reg.entry("apricot").summary == "orange fruit"


def test_unknown_name_suggests_nearest_and_lists_available() -> None:
    reg = make_registry()
    with pytest.raises(UnknownNameError) as info:
        reg.build("appel")
    msg = str(info.value)
    assert "unknown thing 'appel'" in msg
    assert "Did you mean 'apple'" in msg
    assert "Available: apple, apricot" in msg


def test_double_registration_fails() -> None:
    reg = make_registry()
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("apple")(Thing)


class Sized(Thing):
    """A thing with declared, typed parameters."""

    VERSION = 3

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        size: int = Field(2, ge=1)


def test_params_model_validates_and_the_spec_holds_resolved_params() -> None:
    reg: Registry[Thing] = Registry("thing")
    reg.register("sized")(Sized)
    spec = spec_of(reg.build("sized"))
    assert spec is not None and spec.params == {"size": 2} and spec.version == 3
    # writing the default out gives the same spec as leaving it out
    assert spec_of(reg.build("sized", size=2)) == spec
    with pytest.raises(ConfigError, match=r"size: Input should be greater than or equal to 1"):
        reg.build("sized", size=0)
    with pytest.raises(ConfigError, match=r"colour: unknown field"):
        reg.build("sized", colour="red")
    assert reg.resolve("sized", {}) == {"size": 2}


def test_lazy_entries_import_their_module_only_on_first_use() -> None:
    import sys

    reg: Registry[object] = Registry("thing")
    reg.lazy("frac", "fractions:Fraction", "a rational number")
    sys.modules.pop("fractions", None)
    assert reg.names() == ["frac"] and reg.entry("frac").summary == "a rational number"
    assert "fractions" not in sys.modules
    assert reg.build("frac", numerator=1, denominator=2) == 0.5
    assert "fractions" in sys.modules
    with pytest.raises(ValueError, match="module:Object"):
        reg.lazy("bad", "fractions.Fraction", "x")


def test_runtime_arguments_reach_the_factory_but_not_the_spec() -> None:
    class WithStore(Sized):
        def __init__(self, size: int, store: object = None) -> None:
            super().__init__(size)
            self.store = store

    reg: Registry[Thing] = Registry("thing")
    reg.register("s")(WithStore)
    obj = reg.build_with("s", {"size": 4}, store="the store")
    assert isinstance(obj, WithStore) and obj.store == "the store" and obj.size == 4
    assert spec_of(obj) == spec_of(reg.build("s", size=4))  # the store is no parameter


def test_param_problems_validate_only_and_name_the_field() -> None:
    from sandwich.registry import param_problems

    reg = make_registry()
    reg.register("sized")(Sized)
    assert param_problems("x", reg, "sized", {"size": 2}) == []
    assert param_problems("x", reg, "sized", {"size": 0}) == [
        "x.params: size: Input should be greater than or equal to 1, got 0"
    ]
    assert param_problems("x", reg, "apple", {}) == [
        "x.params: thing 'apple' declares no Params model"
    ]
    assert param_problems("x", reg, "sizd", {})[0].startswith("x.name: unknown thing 'sizd'")


def test_a_component_built_directly_fails_like_one_built_by_name() -> None:
    from sandwich.config import Strict
    from sandwich.registry import Configurable

    class Scaler(Configurable):
        class Params(Strict):
            factor: float = Field(1.0, gt=0)

    reg: Registry[Scaler] = Registry("scaler")
    reg.register("scale")(Scaler)
    for build in (lambda: Scaler(factr=2.0), lambda: reg.build("scale", factr=2.0)):
        with pytest.raises(ConfigError, match=r"factr: unknown field\n  its parameters: factor"):
            build()
    with pytest.raises(
        ConfigError, match=r"Scaler: invalid parameters\n  factor: .*greater than 0"
    ):
        Scaler(factor=0)
