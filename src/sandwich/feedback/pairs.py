"""Pairwise items: a prompt and two completions; the rater picks the better one.

A study declares them with ``pairs: <file.jsonl>`` (instead of ``task``). One
comparison per line, in either of two forms:

- ``{"prompt", "completion_a", "completion_b"}``, optional ``gold``: the gold
  preference, ``"a"`` / ``"b"`` / ``"tie"``, ``true`` (A) / ``false`` (B), or
  P(A preferred) as a number in [0, 1] (only 0, 0.5 and 1 are allowed: a gold
  preference is exact);
- ``{"prompt", "chosen", "rejected"}`` (the preference-data format of
  ``docs/rewards.md``), optional ``chosen_score`` and ``rejected_score``:
  A is ``chosen``, B is ``rejected``, and the gold preference comes from the
  scores when both are given (higher wins, equal is a tie); the file's own
  chosen/rejected split is not taken as gold (it is often the weak label).

Either form may carry ``id`` (the item's key, default a hash of the content),
``prompt_id``, ``a`` and ``b`` (the comparison this row came from, handed
back by :func:`sandwich.feedback.analysis.pairwise.pair_preferences`) and
``group``. Every problem fails with ``path:line``.

The canonical order is the file's (A, B). A rater sees the two in an order of
their own (:func:`pair_swapped`); their answer is stored in the canonical
order, ``answer`` True meaning "A is better" with the rater's confidence, so
the study's gold checks, attention checks and label aggregation read a
pairwise label exactly like a statement's, P(true) being P(A preferred). The
shown order is stored with the label (``labels.swapped``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sandwich.errors import ConfigError, InputFileError
from sandwich.feedback.assistance import reading_index
from sandwich.store.atomic import atomic_write_text
from sandwich.tasks.files import jsonl_rows

log = logging.getLogger(__name__)

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
PLAIN = ("prompt", "completion_a", "completion_b")
CHOSEN = ("prompt", "chosen", "rejected")
OPTIONAL = {"id", "prompt_id", "a", "b", "group"}
PLAIN_OPTIONAL = OPTIONAL | {"gold"}
CHOSEN_OPTIONAL = OPTIONAL | {"chosen_score", "rejected_score"}
_GOLD_WORDS: dict[str, float] = {"a": 1.0, "b": 0.0, "tie": 0.5}


@dataclass(frozen=True)
class Pair:
    """One comparison in the canonical order; ``gold``: P(A preferred) under
    gold (1, 0 or 0.5 for a tie), None when unknown."""

    key: str
    prompt: str
    completion_a: str
    completion_b: str
    gold: float | None = None
    prompt_id: str | None = None
    a: int | None = None
    b: int | None = None

    @property
    def has_gold(self) -> bool:
        """A gold preference that is not a tie: usable as a check or training item."""
        return self.gold is not None and self.gold != 0.5

    @property
    def text(self) -> str:
        """The item as one text (dashboards, exports), in the canonical order."""
        return f"{self.prompt}\n[A] {self.completion_a}\n[B] {self.completion_b}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pair:
        return cls(**data)


def pair_key(prompt: str, completion_a: str, completion_b: str) -> str:
    """The default key of a pair: a hash of its content (stable across files)."""
    text = "\x1f".join((prompt, completion_a, completion_b))
    return "pair-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def load_pairs(path: str | Path) -> list[Pair]:
    """Every pair of a JSONL file, validated (module docstring); ``path:line`` errors."""
    p = Path(path)
    try:
        rows = list(jsonl_rows(p))
    except OSError as exc:
        raise InputFileError(p, None, f"cannot read pairs file: {exc.strerror}") from None
    pairs: list[Pair] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        pair = parse_pair_row(p, line, row)
        if pair.key in seen:
            raise InputFileError(
                p, line, f"pair {pair.key!r} is also on line {seen[pair.key]} (keys must be unique)"
            )
        seen[pair.key] = line
        pairs.append(pair)
    if not pairs:
        raise InputFileError(p, None, "no pairs (one JSON object per line)")
    return pairs


def parse_pair_row(path: Path, line: int, row: dict[str, Any]) -> Pair:
    """One line of a pairs file as a :class:`Pair` (either form)."""
    plain = [f for f in PLAIN[1:] if f in row]
    chosen = [f for f in CHOSEN[1:] if f in row]
    if plain and chosen:
        raise InputFileError(
            path, line, "give completion_a/completion_b or chosen/rejected, not both"
        )
    required, optional = (CHOSEN, CHOSEN_OPTIONAL) if chosen else (PLAIN, PLAIN_OPTIONAL)
    missing = [f for f in required if f not in row]
    if missing:
        raise InputFileError(
            path,
            line,
            f"missing {', '.join(missing)} (a pair is prompt, completion_a, completion_b "
            "[, gold] or prompt, chosen, rejected [, chosen_score, rejected_score])",
        )
    extra = sorted(set(row) - set(required) - optional)
    if extra:
        raise InputFileError(
            path, line, f"unknown field(s) {', '.join(extra)}; allowed: {sorted(optional)}"
        )
    prompt, first, second = (_text(path, line, row, f) for f in required)
    if first == second:
        raise InputFileError(path, line, f"{required[1]} and {required[2]} are the same text")
    gold = _scores(path, line, row) if chosen else _gold(path, line, row.get("gold"))
    key = row.get("id", pair_key(prompt, first, second))
    if not isinstance(key, str) or not KEY.match(key):
        raise InputFileError(
            path, line, f"id must be 1-64 letters, digits or _.:- (not first), got {key!r}"
        )
    source = _source(path, line, row)
    return Pair(key, prompt, first, second, gold, *source)


def _text(path: Path, line: int, row: dict[str, Any], field: str) -> str:
    value = row[field]
    if not isinstance(value, str) or not value.strip():
        raise InputFileError(path, line, f"{field} must be a non-empty string, got {value!r}")
    return value


def _gold(path: Path, line: int, value: Any) -> float | None:
    """``gold`` as P(A preferred): a/b/tie, true/false, 1/0/0.5; None if absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str) and value.strip().lower() in _GOLD_WORDS:
        return _GOLD_WORDS[value.strip().lower()]
    if isinstance(value, int | float) and float(value) in (0.0, 0.5, 1.0):
        return float(value)
    raise InputFileError(
        path,
        line,
        f'gold must be "a", "b", "tie", true/false or 1/0/0.5 (P(A preferred)), got {value!r}',
    )


def _scores(path: Path, line: int, row: dict[str, Any]) -> float | None:
    """The gold preference from ``chosen_score`` / ``rejected_score`` (both or neither)."""
    given = [f for f in ("chosen_score", "rejected_score") if row.get(f) is not None]
    if not given:
        return None
    if len(given) == 1:
        raise InputFileError(
            path, line, f"{given[0]} needs its partner (give chosen_score and rejected_score)"
        )
    scores = []
    for f in ("chosen_score", "rejected_score"):
        v = row[f]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise InputFileError(path, line, f"{f} must be a finite number, got {v!r}")
        scores.append(float(v))
    return 1.0 if scores[0] > scores[1] else 0.0 if scores[0] < scores[1] else 0.5


def _source(
    path: Path, line: int, row: dict[str, Any]
) -> tuple[str | None, int | None, int | None]:
    """(prompt_id, a, b): the comparison a row came from, when it says."""
    pid, a, b = row.get("prompt_id"), row.get("a"), row.get("b")
    if pid is not None and not isinstance(pid, str):
        raise InputFileError(path, line, f"prompt_id must be a string, got {pid!r}")
    for name, v in (("a", a), ("b", b)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise InputFileError(path, line, f"{name} must be a completion index >= 0, got {v!r}")
    return pid, a, b


def pairs_from_comparisons(prompts: Iterable[Any], comparisons: Iterable[Any]) -> list[Pair]:
    """Pairs for a study from preference data (``sandwich.rewards.data``): each
    comparison (``prompt_id``, ``a``, ``b``, ``gold``) of a prompt (``id``,
    ``prompt``, ``completions[i].text``) becomes a pair that remembers where
    it came from, so its aggregated preference maps back
    (:func:`sandwich.feedback.analysis.pair_preferences.comparison_preferences`).
    Read by attribute, so this module needs no import of the rewards package.

    A comparison of two identical texts (a policy may sample the same
    completion twice) is left out, with a warning: there is nothing for a
    rater to choose between (see ``missing`` of ``comparison_preferences``).
    Keys are a hash of (prompt_id, a, b), so every comparison is its own item.
    """
    by_id = {p.id: p for p in prompts}
    out, same = [], 0
    for c in comparisons:
        prompt = by_id.get(c.prompt_id)
        if prompt is None:
            raise ConfigError(f"comparison of prompt {c.prompt_id!r}: no such prompt given")
        text_a, text_b = prompt.completions[c.a].text, prompt.completions[c.b].text
        if text_a == text_b:
            same += 1
            continue
        gold = None if c.gold is None else float(c.gold)
        key = "cmp-" + hashlib.sha256(f"{c.prompt_id}\x1f{c.a}\x1f{c.b}".encode()).hexdigest()[:20]
        out.append(Pair(key, prompt.prompt, text_a, text_b, gold, c.prompt_id, c.a, c.b))
    if same:
        log.warning("left out %d comparison(s) of two identical completions", same)
    return out


def write_pairs(pairs: Iterable[Pair], path: str | Path) -> Path:
    """Write pairs as a pairs file (the plain form, with gold and where each came
    from), atomically; :func:`load_pairs` reads it back unchanged."""
    lines = []
    for p in pairs:
        row: dict[str, Any] = {
            "id": p.key,
            "prompt": p.prompt,
            "completion_a": p.completion_a,
            "completion_b": p.completion_b,
        }
        extra = {"gold": p.gold, "prompt_id": p.prompt_id, "a": p.a, "b": p.b}
        row.update({k: v for k, v in extra.items() if v is not None})
        lines.append(json.dumps(row) + "\n")
    atomic_write_text(Path(path), "".join(lines))
    return Path(path)


def pair_swapped(seed: int, item_key: str, slot: int | None, rater_id: int) -> bool:
    """Whether this rater is shown B first.

    The order of the two completions is drawn like a debate's reading
    (:func:`~sandwich.feedback.assistance.reading_index` with two readings):
    a main item's raters alternate from an offset drawn per item, so each
    order is shown equally often per item (within one), and gold, training
    and attention items draw per rater. Deterministic, so a reload shows the
    same order; the order is also stored with the label.
    """
    return reading_index(seed, item_key, 2, slot, rater_id) == 1


def shown_pair(pair: dict[str, Any], swapped: bool) -> dict[str, str]:
    """What the rater sees: the prompt and the two completions in shown order."""
    first, second = pair["completion_a"], pair["completion_b"]
    if swapped:
        first, second = second, first
    return {"prompt": pair["prompt"], "first": first, "second": second}


def canonical_answer(choice: str, swapped: bool) -> bool:
    """The rater's pick (``first`` / ``second`` as shown) as "A is better"."""
    return (choice == "first") != swapped
