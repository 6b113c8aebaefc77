from __future__ import annotations

import pytest

from sandwich.errors import UnknownNameError
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
    assert spec.to_dict() == {"kind": "thing", "name": "apple", "params": {"size": 3}}


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
