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
from collections.abc import Callable, Sequence
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

    def _through_cache(
        self,
        requests: Sequence[Any],
        call: Callable[[list[Any]], Sequence[Any]],
        decode: Callable[[Any, str], Any],
        deliver: Callable[[Any, str | None], Any],
        encode: Callable[[Any], Any],
    ) -> list[Any]:
        """Stored results for hits; one backend call for the distinct misses, stored by key.

        ``encode`` returns None for a result that must not be stored (a failed generation;
        "cannot score", which a later backend may).
        """
        keys = [self.key(r) for r in requests]
        stored = self.cache.get_many([k for k in keys if k is not None])
        out: list[Any] = [None] * len(requests)
        todo: dict[str, list[int]] = {}  # key (or a unique token) -> request indices
        for i, k in enumerate(keys):
            if k is not None and k in stored:
                out[i] = decode(stored[k], k)
                self.hits += 1
            else:
                todo.setdefault(k if k is not None else f"uncacheable-{i}", []).append(i)
        if not todo:
            return out
        firsts = [idx[0] for idx in todo.values()]
        batch = [requests[i] for i in firsts]
        self._log_misses([r for r, i in zip(batch, firsts, strict=True) if keys[i]])
        entries = []
        for idx, res in zip(todo.values(), call(batch), strict=True):
            k = keys[idx[0]]
            for i in idx:
                out[i] = deliver(res, k)
            if k is None:
                self.uncacheable += len(idx)
                continue
            self.misses += 1
            self.hits += len(idx) - 1
            value = encode(res)
            if value is not None:
                entries.append(Entry(k, key_fields(self._describe, requests[idx[0]]), value))
        self.cache.put_many(entries)
        return out

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        return self._through_cache(
            requests,
            self.inner.generate,
            _result_from,
            lambda res, k: dataclasses.replace(res, meta={**res.meta, "cache_key": k}),
            lambda res: _result_json(res) if res.error is None else None,
        )

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float] | None]:
        return self._through_cache(
            requests,
            self.inner.score_choices,
            lambda d, _k: {str(c): float(v) for c, v in d.items()},
            lambda res, _k: dict(res) if res is not None else None,
            lambda res: res,
        )

    def __repr__(self) -> str:
        return f"CachedGenerator({self.inner!r}, cache={str(self.cache.path)!r})"
