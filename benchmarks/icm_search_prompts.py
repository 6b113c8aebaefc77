"""How many prompts an in-context ICM search really scores, against the planner's count.

Run:  python benchmarks/icm_search_prompts.py     # about a minute, no model

``sandwich plan`` costs ``icm`` with ``predictor: in-context`` by the prompts its search
asks the generator to score (``runs/w2s/stage_plan.py``: ``icm_search_prompts``, with
``CHANGE_SHARE`` of the proposals on labelled claims changing a label). This runs the
reporter's own search (``ICMReporter.fit_texts``) with a stub generator that counts
every prompt it is asked to score and its demonstrations, for two predictors: ``chance``
(a hash of the prompt: log-odds unrelated to the labels, as a small model's nearly are)
and ``majority`` (the same plus the majority of the demonstrations' labels: a coherent
predictor, whose search accepts few changes), and prints the counts next to the
planner's. Prompts the search has scored before are memoised (not counted twice), as in
the reporter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from sandwich.elicit import ELICITORS
from sandwich.elicit.reporters.icm import ICMReporter
from sandwich.models.generation.base import ChoiceRequest
from sandwich.runs.w2s.stage_plan import icm_search_prompts


class CountingScorer:
    """A stand-in for a generator's ``score_choices`` that counts what it is asked."""

    def __init__(self, majority: bool) -> None:
        self.majority, self.prompts, self.demos = majority, 0, 0

    def describe(self) -> str:
        return "counting"

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float] | None]:
        out: list[dict[str, float] | None] = []
        for r in requests:
            text = r.messages[0].content
            self.prompts += 1
            self.demos += text.count("I think this claim is") - 1
            odds = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32 - 0.5
            if self.majority:
                odds += 0.3 * (text.count(" True\n") - text.count(" False\n"))
            out.append({" True": odds, " False": 0.0})
        return out


def main() -> None:
    texts = [f"The city of C{i} is in country K{i % 7}." for i in range(400)]
    y = (np.arange(400) % 2).astype(float)
    runs = [("chance", 12, 40, 4), ("chance", 32, 300, 8), ("chance", 128, 3000, 8),
            ("majority", 12, 40, 4), ("majority", 32, 300, 8)]  # fmt: skip
    for kind, items, iterations, initial in runs:
        scorer = CountingScorer(kind == "majority")
        rep = ELICITORS.build("icm", predictor="in-context", max_items=items,
                              iterations=iterations, initial=initial)  # fmt: skip
        if not isinstance(rep, ICMReporter):
            raise TypeError(type(rep))
        rep.fit_texts(texts[:items], y[:items], scorer, random_state=0)
        prompts, demos = icm_search_prompts(items, initial, iterations)
        print(
            f"{kind:8s} {items:4d} claims x {iterations:5d} proposals (initial {initial}): "
            f"scored {scorer.prompts} prompts, {scorer.demos} demonstrations "
            f"({rep.accepted_} accepted); planned {prompts:.0f}, {demos:.0f} "
            f"(x{prompts / scorer.prompts:.2f}, x{demos / scorer.demos:.2f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
