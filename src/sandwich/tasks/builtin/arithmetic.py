"""``arithmetic``: "{a} + {b} = {c}." statements, generated in milliseconds.

The format is fixed: the fake model backend parses it with the regex
``(-?\\d+) \\+ (-?\\d+) = (-?\\d+)``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sandwich.registry import takes
from sandwich.tasks.builtin.common import check_n, halves, registered_task, rng_for, task_params
from sandwich.tasks.item import Item, item_id
from sandwich.tasks.task import Task

OFFSETS = np.array([-10, -2, -1, 1, 2, 10])


def _carries(a: np.ndarray, b: np.ndarray, max_digits: int) -> np.ndarray:
    carries = np.zeros(len(a), dtype=np.int64)
    carry = np.zeros(len(a), dtype=np.int64)
    for k in range(max_digits):
        s = (a // 10**k) % 10 + (b // 10**k) % 10 + carry
        carry = (s >= 10).astype(np.int64)
        carries += carry
    return carries


class ArithmeticParams(task_params(1200)):  # type: ignore[misc]
    max_digits: int = Field(3, ge=1, le=9, description="most digits of an operand")


@takes(ArithmeticParams)
def arithmetic_task(n_items: int, seed: int, max_digits: int) -> Task:
    """Additions of two non-negative integers of 1 to ``max_digits`` digits.

    Each operand's digit count is uniform in 1..max_digits; each (a, b) pair is
    used once. False statements give ``a + b + delta`` with delta in
    {-10, -2, -1, 1, 2, 10} (never negative). Difficulty (from a and b
    only, so it says nothing about the label):
    ``0.5 * (digits - 1) / max(1, max_digits - 1) + 0.5 * carries / max_digits``
    where ``digits`` is the longer operand's digit count and ``carries`` the
    number of column carries in a + b.

    Group: the unordered operands ("3 + 5" for both 3 + 5 and 5 + 3), so a sum
    and its swapped twin stay in one split.
    """
    n_pairs = sum(9 * 10 ** (d - 1) + (d == 1) for d in range(1, max_digits + 1)) ** 2
    check_n("arithmetic", n_items, n_pairs, f"distinct (a, b) pairs with max_digits={max_digits}")
    rng = rng_for("arithmetic", seed)
    a, b = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    while len(a) < n_items:
        m = 2 * n_items + 64
        da, db = rng.integers(1, max_digits + 1, (2, m))
        na = rng.integers(np.where(da == 1, 0, 10 ** (da - 1)), 10**da)
        nb = rng.integers(np.where(db == 1, 0, 10 ** (db - 1)), 10**db)
        a, b = np.concatenate([a, na]), np.concatenate([b, nb])
        _, first = np.unique(a * 10**max_digits + b, return_index=True)
        keep = np.sort(first)
        a, b = a[keep], b[keep]
    a, b = a[:n_items], b[:n_items]
    n_true, _ = halves(n_items)
    truth = np.arange(n_items) < n_true
    delta = rng.choice(OFFSETS, n_items)
    delta = np.where(a + b + delta < 0, -delta, delta)
    c = a + b + np.where(truth, 0, delta)
    digits = np.maximum(len_digits(a), len_digits(b))
    difficulty = (
        0.5 * (digits - 1) / max(1, max_digits - 1) + 0.5 * _carries(a, b, max_digits) / max_digits
    )
    items = []
    for k in rng.permutation(n_items):
        text = f"{a[k]} + {b[k]} = {c[k]}."
        t = bool(truth[k])
        items.append(
            Item(
                item_id(text, t),
                text,
                t,
                float(difficulty[k]),
                {
                    "a": int(a[k]),
                    "b": int(b[k]),
                    "c": int(c[k]),
                    "sum": int(a[k] + b[k]),
                    "group": f"{min(a[k], b[k])} + {max(a[k], b[k])}",
                },
            )
        )
    return registered_task("arithmetic", items, n_items, seed, max_digits=max_digits)


def len_digits(x: np.ndarray) -> np.ndarray:
    return np.where(x == 0, 1, np.floor(np.log10(np.maximum(x, 1))).astype(np.int64) + 1)
