"""A scripted, deterministic generation backend for tests (no model, no network).

``generate``: the first rule whose substring occurs in the conversation gives the
reply; otherwise ``default``; otherwise ``"fake reply <hash>"`` derived from the
messages (and the seed, for sampled requests), so equal requests get equal
replies. A conversation containing one of ``fail_on`` gets a failed result
(``error`` set), as a real backend does after its retries.
Replies are cut to ``max_new_tokens`` whitespace-separated words and at the
first ``stop`` string; ``token_logprobs`` are deterministic negatives.

``score_choices``: a judge that leans toward the choice mentioned most often in
the conversation (ties broken by a hash): log-softmax over mention counts.
``can_score=False`` makes it return None, like a server without log-probs.
Every request is appended to ``calls`` so tests can count what reached the backend.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from sandwich.models.generation.base import ChoiceRequest, Generator, GenRequest, GenResult
from sandwich.models.generation.config import FakeParams
from sandwich.store.hashing import digest


def _conversation(messages: Sequence[Any]) -> str:
    return "\n".join(m.content for m in messages)


class FakeGenerator(Generator):
    Params = FakeParams

    def __init__(self, **params: Any) -> None:
        p = FakeParams(**params)  # the script's defaults live in FakeParams only
        self.model, self.rules, self.default = p.model, p.rules, p.default
        self.fail_on, self.can_score = p.fail_on, p.can_score
        self._params = p.model_dump(mode="json")
        self.calls: list[GenRequest | ChoiceRequest] = []
        self._unseeded = itertools.count()

    def describe(self) -> dict[str, Any]:
        return {"backend": "fake", **self._params}

    def _reply(self, req: GenRequest) -> str:
        text = _conversation(req.messages)
        for needle, reply in self.rules.items():
            if needle in text:
                return reply
        if self.default is not None:
            return self.default
        salt: Any = None
        if req.temperature > 0:
            salt = req.seed if req.seed is not None else f"unseeded-{next(self._unseeded)}"
        return f"fake reply {digest([text, salt])[:8]}"

    def _one(self, req: GenRequest) -> GenResult:
        text = _conversation(req.messages)
        for needle in self.fail_on:
            if needle in text:
                return GenResult(
                    text="", error=f"scripted failure: conversation contains {needle!r}"
                )
        words = self._reply(req).split(" ")
        finish = "stop"
        if len(words) > req.max_new_tokens:
            words, finish = words[: req.max_new_tokens], "length"
        reply = " ".join(words)
        for s in req.stop:
            if s and s in reply:
                reply, finish = reply[: reply.index(s)], "stop"
        n = len(reply.split()) if reply else 0
        lps = tuple(-0.1 * (1 + i % 3) for i in range(n)) if req.logprobs else None
        return GenResult(text=reply, token_logprobs=lps, finish_reason=finish)

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        self.calls.extend(requests)
        return [self._one(r) for r in requests]

    def _scores(self, req: ChoiceRequest) -> dict[str, float] | None:
        if not self.can_score:
            return None
        text = _conversation(req.messages)
        raw = {
            c: text.count(c.strip()) + int(digest([text, c])[:4], 16) / 65536 / 10
            for c in req.choices
        }
        norm = math.log(sum(math.exp(v) for v in raw.values()))
        return {c: v - norm for c, v in raw.items()}

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float] | None]:
        self.calls.extend(requests)
        return [self._scores(r) for r in requests]
