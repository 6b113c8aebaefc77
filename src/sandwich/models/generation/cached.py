"""CachedGenerator: any Generator behind the response cache.

Hits are returned with ``cached=True``; misses go to the backend in one batch
(identical requests de-duplicated) and their results are stored unless they
failed (``error``) or were sampled without a seed. Every result carries
``meta["cache_key"]`` (None when uncacheable) for transcripts and provenance.
``explain_miss(request)`` says why a request missed. With
``SANDWICH_CACHE_EXPLAIN=1`` each miss's explanation is logged at INFO.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import Any

from sandwich.models.generation.base import ChoiceRequest, Generator, GenRequest, GenResult
from sandwich.models.generation.cache import Entry, MissExplanation, ResponseCache
from sandwich.models.generation.keys import cache_key, key_fields, uncacheable_reason

log = logging.getLogger(__name__)


def _result_json(r: GenResult) -> dict[str, Any]:
    return {
        "text": r.text,
        "token_logprobs": list(r.token_logprobs) if r.token_logprobs is not None else None,
        "finish_reason": r.finish_reason,
    }


def _result_from(d: dict[str, Any], key: str) -> GenResult:
    lps = d.get("token_logprobs")
    return GenResult(
        text=str(d["text"]),
        token_logprobs=tuple(float(x) for x in lps) if lps is not None else None,
        finish_reason=d.get("finish_reason"),
        cached=True,
        meta={"cache_key": key},
    )


class CachedGenerator(Generator):
    def __init__(self, inner: Generator, cache: ResponseCache) -> None:
        self.inner = inner
        self.cache = cache
        self._describe = inner.describe()
        self.hits = 0
        self.misses = 0
        self.uncacheable = 0

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def key(self, request: GenRequest | ChoiceRequest) -> str | None:
        """The cache key of a request (None if it is never cached)."""
        if uncacheable_reason(request):
            return None
        return cache_key(self._describe, request)

    def explain_miss(self, request: GenRequest | ChoiceRequest) -> MissExplanation:
        fields = key_fields(self._describe, request)
        reason = uncacheable_reason(request)
        key = cache_key(self._describe, request)
        if reason:
            return MissExplanation(key=key, hit=False, uncacheable=reason)
        return self.cache.explain(key, fields)

    def _log_misses(self, requests: Sequence[GenRequest | ChoiceRequest]) -> None:
        if os.environ.get("SANDWICH_CACHE_EXPLAIN", "") in {"1", "true", "yes"}:
            for r in requests:
                log.info("response cache: %s", self.explain_miss(r))

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        keys = [self.key(r) for r in requests]
        stored = self.cache.get_many([k for k in keys if k is not None])
        out: list[GenResult | None] = [None] * len(requests)
        todo: dict[str, list[int]] = {}  # key (or a unique token) -> request indices
        for i, k in enumerate(keys):
            if k is not None and k in stored:
                out[i] = _result_from(stored[k], k)
                self.hits += 1
            else:
                todo.setdefault(k if k is not None else f"uncacheable-{i}", []).append(i)
        if todo:
            firsts = [idx[0] for idx in todo.values()]
            batch = [requests[i] for i in firsts]
            self._log_misses([r for r, i in zip(batch, firsts, strict=True) if keys[i]])
            results = self.inner.generate(batch)
            entries = []
            for idx, res in zip(todo.values(), results, strict=True):
                k = keys[idx[0]]
                meta = {**res.meta, "cache_key": k}
                for i in idx:
                    out[i] = dataclasses.replace(res, meta=dict(meta))
                if k is None:
                    self.uncacheable += len(idx)
                    continue
                self.misses += 1
                self.hits += len(idx) - 1
                if res.error is None:
                    entries.append(
                        Entry(k, key_fields(self._describe, requests[idx[0]]), _result_json(res))
                    )
            self.cache.put_many(entries)
        return [r for r in out if r is not None]

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float] | None]:
        keys = [cache_key(self._describe, r) for r in requests]
        stored = self.cache.get_many(keys)
        out: list[dict[str, float] | None] = [None] * len(requests)
        todo: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            if k in stored:
                out[i] = {str(c): float(v) for c, v in stored[k].items()}
                self.hits += 1
            else:
                todo.setdefault(k, []).append(i)
        if todo:
            batch = [requests[idx[0]] for idx in todo.values()]
            self._log_misses(batch)
            results = self.inner.score_choices(batch)
            entries = []
            for (k, idx), res in zip(todo.items(), results, strict=True):
                self.misses += 1
                for i in idx:
                    out[i] = dict(res) if res is not None else None
                if res is not None:  # "cannot score" is not stored: a later backend may
                    entries.append(Entry(k, key_fields(self._describe, requests[idx[0]]), res))
            self.cache.put_many(entries)
        return out

    def __repr__(self) -> str:
        return f"CachedGenerator({self.inner!r}, cache={str(self.cache.path)!r})"
