"""Every table of the report names each of its columns once, readably."""

from __future__ import annotations

import pytest

from sandwich.report import protocol


@pytest.mark.parametrize("name", [n for n in dir(protocol) if n.endswith("_COLUMNS")])
def test_column_headers_are_distinct_once_stripped(name: str) -> None:
    """A "95% CI" column belongs to the value column just before it; every other
    header must say on its own what the column holds."""
    headers = [h.strip() for h, _ in getattr(protocol, name) if not h.startswith("95% CI")]
    assert len(headers) == len(set(headers)), f"{name}: a header repeats: {headers}"
