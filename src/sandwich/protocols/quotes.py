"""Quote verification: spans an assistant quotes are checked against the passage.

A quote is text inside ``<quote>...</quote>`` tags or inside straight double
quotes (at least ``MIN_QUOTE_CHARS`` characters, so "yes"-style scare quotes
are not counted). A quote is *verified* when, after collapsing whitespace and
ignoring case and surrounding punctuation, it occurs verbatim in the passage.
The judge sees every quote re-tagged as ``<verified>...</verified>`` or
``<unverified>...</unverified>`` (Khan et al. 2024 mark quotes the same way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_QUOTE_CHARS = 8
_QUOTE = re.compile(r"<quote>(.*?)</quote>|\"([^\"\n]{" + str(MIN_QUOTE_CHARS) + r",})\"", re.S)


@dataclass(frozen=True)
class Quote:
    text: str
    verified: bool


def _norm(text: str) -> str:
    return " ".join(text.split()).strip(" .,;:!?'\"").lower()


def _span(m: re.Match[str]) -> str:
    return (m.group(1) if m.group(1) is not None else m.group(2)).strip()


def _verified(span: str, hay: str | None) -> bool:
    key = _norm(span)
    return bool(hay is not None and key and key in hay)


def find_quotes(text: str, passage: str | None) -> list[Quote]:
    """Every quote in ``text``, verified against ``passage`` (never verified without one)."""
    hay = _norm(passage) if passage else None
    return [Quote(span, _verified(span, hay)) for span in map(_span, _QUOTE.finditer(text))]


def mark_quotes(text: str, passage: str | None) -> str:
    """``text`` with each quote re-tagged ``<verified>`` or ``<unverified>`` for the judge."""
    hay = _norm(passage) if passage else None

    def tag(m: re.Match[str]) -> str:
        span = _span(m)
        kind = "verified" if _verified(span, hay) else "unverified"
        return f"<{kind}>{span}</{kind}>"

    return _QUOTE.sub(tag, text)
