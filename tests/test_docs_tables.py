"""The parameter tables in docs/ are generated from the Params models and current."""

from __future__ import annotations

import re
from pathlib import Path

from sandwich.docs_tables import main, params_markdown, render, stale

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_docs_tables_are_current() -> None:
    assert stale(DOCS) == [], "run: python -m sandwich.docs_tables"
    blocks = re.findall(r"<!-- params: (\w+) ([\w-]+) -->", "".join(
        p.read_text() for p in DOCS.glob("*.md")
    ))  # fmt: skip
    assert ("elicitor", "finetune") in blocks and ("backend", "openai") in blocks


def test_a_stale_table_is_found_and_rewritten(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("intro\n<!-- params: loss logconf -->\n| old |\n<!-- /params -->\nend\n")
    assert main([str(tmp_path), "--check"]) == 1
    assert main([str(tmp_path)]) == 0 and main([str(tmp_path), "--check"]) == 0
    text = doc.read_text()
    assert text == render(text) and params_markdown("loss", "logconf") in text
    assert "| `aux_weight` | `float` | `0.75` |" in text
