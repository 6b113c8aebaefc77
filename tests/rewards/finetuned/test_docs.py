"""docs/rewards.md's parameter table of the fine-tuned reward model matches the model."""

from __future__ import annotations

import re
from pathlib import Path

from sandwich.docs_tables import _default, type_name
from sandwich.rewards.finetuned import FineTunedRMParams

DOC = Path(__file__).parents[3] / "docs" / "rewards.md"


def params_table() -> str:
    """The markdown table docs_tables would print for these params (same helpers)."""
    lines = ["| param | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, f in FineTunedRMParams.model_fields.items():
        code = [f"`{c}`" for c in (name, type_name(f.annotation), _default(f))]
        cells = [*code, f.description or ""]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def test_the_params_table_is_current() -> None:
    found = re.search(
        r"<!-- table: FineTunedRMParams -->\n(.*?)<!-- /table -->", DOC.read_text(), re.S
    )
    assert found is not None, f"{DOC}: no FineTunedRMParams table block"
    assert found[1] == params_table()
