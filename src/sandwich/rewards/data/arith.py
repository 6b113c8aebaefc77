"""``arith-prefs``: "What is 37 + 48? Answer:" and a gold reward graded by the answer's error.

Gold (:class:`ArithGold`): the first integer in the completion (commas between
digits allowed, "1,234"; a leading minus sign counts) against the true answer:
``exp(-|error| / scale)`` with ``scale = max(1, rel_scale * |answer|)``, so the
exact answer is 1.0, an error of one scale is 0.37, and a completion with no
number is 0.0. The scale grows with the answer so a product's near miss is not
worth less than a sum's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pydantic import Field

from sandwich.registry import takes
from sandwich.rewards.data.records import RewardPrompt, prompt_id
from sandwich.tasks.builtin.common import check_n, rng_for, task_params

_NUMBER = re.compile(r"(?<![\d,])-?\d{1,3}(?:,\d{3})+(?!\d)|(?<![\d,])-?\d+")


def first_number(completion: str) -> int | None:
    """The first integer in ``completion`` ("1,234" is 1234), or None."""
    m = _NUMBER.search(completion)
    return None if m is None else int(m.group(0).replace(",", ""))


@dataclass(frozen=True)
class ArithGold:
    """``exp(-|first number - answer| / max(1, rel_scale * |answer|))``; 0 without a number.

    Reads ``answer`` from the prompt's metadata.
    """

    rel_scale: float = 0.1
    name: str = "arith-error"

    def __call__(self, prompt: RewardPrompt, completion: str) -> float:
        said = first_number(completion)
        if said is None:
            return 0.0
        answer = int(prompt.metadata["answer"])
        scale = max(1.0, self.rel_scale * abs(answer))
        return math.exp(-abs(said - answer) / scale)


OPS = {"+": lambda a, b: a + b, "*": lambda a, b: a * b}


FEW_SHOT = "What is 12 + 7? Answer: 19\nWhat is 6 * 8? Answer: 48\n"
"""The optional few-shot prefix (``shots=True``): two solved examples, one per line."""


class ArithPrefsParams(task_params(200)):  # type: ignore[misc]
    max_digits: int = Field(2, ge=1, le=6, description="most digits of an operand")
    ops: str = Field("+*", pattern=r"^[+*]{1,2}$", description="operations drawn from: + and/or *")
    shots: bool = Field(True, description="start the prompt with two solved examples")


@takes(ArithPrefsParams)
def arith_prefs(
    n_items: int, seed: int, max_digits: int, ops: str, shots: bool
) -> list[RewardPrompt]:
    """``n_items`` distinct prompts "What is {a} {op} {b}? Answer:" with operands of 1 to
    ``max_digits`` digits (digit count uniform) and ``op`` uniform over ``ops``; with
    ``shots`` (the default: without it SmolLM2-135M mostly answers with an empty line),
    after :data:`FEW_SHOT`.

    Group: the smaller operand (a sum and its swapped twin, and every question about
    one number, stay in one split). Difficulty: ``0.5 * (digits - 1) / max(1, max_digits
    - 1)`` for the longer operand, plus 0.5 for a product. Metadata: ``a``, ``b``,
    ``op``, ``answer``.
    """
    n_ops = len(set(ops))
    n_distinct = n_ops * (10**max_digits) ** 2
    check_n("arith-prefs", n_items, n_distinct // 2, f"operands of at most {max_digits} digits")
    rng = rng_for("arith-prefs", seed)
    seen: set[str] = set()
    out: list[RewardPrompt] = []
    op_list = sorted(set(ops))
    while len(out) < n_items:
        da, db = (int(d) for d in rng.integers(1, max_digits + 1, 2))
        a = int(rng.integers(0 if da == 1 else 10 ** (da - 1), 10**da))
        b = int(rng.integers(0 if db == 1 else 10 ** (db - 1), 10**db))
        op = op_list[int(rng.integers(len(op_list)))]
        text = (FEW_SHOT if shots else "") + f"What is {a} {op} {b}? Answer:"
        if text in seen:
            continue
        seen.add(text)
        digits = max(da, db)
        difficulty = 0.5 * (digits - 1) / max(1, max_digits - 1) + (0.5 if op == "*" else 0.0)
        out.append(
            RewardPrompt(
                prompt_id(text),
                text,
                (),
                group=str(min(a, b)),
                difficulty=difficulty,
                metadata={"a": a, "b": b, "op": op, "answer": OPS[op](a, b)},
            )
        )
    return out
