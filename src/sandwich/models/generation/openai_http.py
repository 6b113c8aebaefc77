"""OpenAI-compatible HTTP backend (vLLM, llama.cpp server, OpenAI, ...) over httpx.

``POST {base_url}/chat/completions``, or with ``endpoint: completions``
``POST {base_url}/completions`` (a base model: the messages' texts joined by
blank lines are the prompt, as the local backend's ``prompt_format: plain``; the
legacy log-prob format), one request per GenRequest, at most
``concurrency`` in flight (a thread pool). Timeouts, connection errors, 5xx,
429 and malformed JSON are retried ``max_retries`` times with exponential
backoff and full jitter (tenacity's ``wait_random_exponential``); other 4xx
fail at once. A request that still fails gets a GenResult with ``error`` set to
the reason; one bad item never raises out of a batch.

The API key is read from the environment variable named by ``api_key_env`` when
the generator is built and lives only in the HTTP client's headers: it is not
in ``describe()``, the repr, cache keys, logs or error messages.

``score_choices`` asks for one token with ``top_logprobs`` and reads each
choice's log-prob from the alternatives whose text (stripped) equals the choice
(log-sum-exp over variants such as "A" and " A"): exact for single-token
choices. It returns None for a request when the server gives no log-probs, a
choice is not among the alternatives, or the request failed.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from sandwich.config import validate_params
from sandwich.errors import ConfigError
from sandwich.models.generation.base import ChoiceRequest, Generator, GenRequest, GenResult
from sandwich.models.generation.config import OpenAIParams

log = logging.getLogger(__name__)


class _Retryable(Exception):
    """A failure worth retrying (timeout, connection, 5xx, 429, malformed JSON)."""


class _Fatal(Exception):
    """A failure retrying cannot fix (4xx other than 408/429)."""


class OpenAIGenerator(Generator):
    Params = OpenAIParams

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        **params: Any,
    ) -> None:
        """``params``: the rest of :class:`OpenAIParams` (defaults there); ``sleep``: for tests."""
        # the URL and key-name checks, also when built directly
        given = {"model": model, "base_url": base_url, **params}
        p = validate_params(OpenAIParams, given, "backend 'openai'")
        self.model = p.model
        self.base_url = p.base_url.rstrip("/")
        self.api_key_env = api_key_env = p.api_key_env
        self.concurrency = concurrency = p.concurrency
        self.max_retries = p.max_retries
        self.top_logprobs = p.top_logprobs
        self.endpoint = p.endpoint
        self._path = "/chat/completions" if p.endpoint == "chat" else "/completions"
        self._backoff = (p.backoff, p.backoff_max)
        self._sleep = sleep
        headers = {}
        self._secret: str | None = None
        if api_key_env:
            import os

            self._secret = os.environ.get(api_key_env) or None
            if self._secret is None:
                raise ConfigError(
                    f"api_key_env names the environment variable {api_key_env!r}, which is "
                    "not set (or empty); export it before running"
                )
            headers["Authorization"] = f"Bearer {self._secret}"
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=p.timeout,
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    def describe(self) -> dict[str, Any]:
        # "endpoint" only when not the default, so chat's cache keys stay what they were
        chat = self.endpoint == "chat"
        return {"backend": "openai", "base_url": self.base_url, "model": self.model} | (
            {} if chat else {"endpoint": self.endpoint}
        )

    def __repr__(self) -> str:
        return f"OpenAIGenerator(model={self.model!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    # -- one HTTP call, retried ----------------------------------------------
    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _post_once(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = self._client.post(self._path, json=body)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error ({type(exc).__name__}: {exc})") from None
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            raise _Retryable(f"HTTP {resp.status_code}: {resp.text[:200]}")
        if resp.status_code >= 400:
            raise _Fatal(f"HTTP {resp.status_code}: {resp.text[:300]}")
        try:
            data = resp.json()
            if not isinstance(self._text(data["choices"][0]), str):
                raise TypeError("the reply's text is not a string")
        except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise _Retryable(f"malformed response ({type(exc).__name__}: {exc})") from None
        return dict(data)

    def _post(self, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None, int]:
        """(response JSON, None, attempts) or (None, reason, attempts)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_random_exponential(multiplier=self._backoff[0], max=self._backoff[1]),
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=False,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._post_once(body), None, attempt.retry_state.attempt_number
        except RetryError as exc:
            n = exc.last_attempt.attempt_number
            last = exc.last_attempt.exception()
            return None, self._redact(f"failed after {n} attempt(s): {last}"), n
        except _Fatal as exc:
            return None, self._redact(f"request rejected: {exc}"), 1
        raise AssertionError("unreachable")

    # -- the interface -------------------------------------------------------
    def _body(self, messages: Sequence[Any]) -> dict[str, Any]:
        if self.endpoint == "completions":
            return {"model": self.model, "prompt": "\n\n".join(m.content for m in messages)}
        return {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }

    def _text(self, choice: dict[str, Any]) -> Any:
        return choice["text"] if self.endpoint == "completions" else choice["message"]["content"]

    def _logprobs(self, top: int) -> dict[str, Any]:
        """The request fields asking for each token's log-prob and ``top`` alternatives
        (chat: llama.cpp's servers return none without ``top_logprobs``)."""
        if self.endpoint == "completions":
            return {"logprobs": top}
        return {"logprobs": True, "top_logprobs": top}

    def _alternatives(self, choice: dict[str, Any]) -> list[tuple[str, float]]:
        """(token, log-prob) of the first generated token's alternatives."""
        lp = choice["logprobs"]
        if self.endpoint == "completions":  # legacy: a {token: log-prob} map per token
            return [(str(t), float(v)) for t, v in lp["top_logprobs"][0].items()]
        return [(str(t["token"]), float(t["logprob"])) for t in lp["content"][0]["top_logprobs"]]

    def _generate_one(self, req: GenRequest) -> GenResult:
        body = self._body(req.messages) | {
            "max_tokens": req.max_new_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
        }
        if req.seed is not None:
            body["seed"] = req.seed
        if req.stop:
            body["stop"] = list(req.stop)
        if req.logprobs:
            body |= self._logprobs(1)
        data, error, attempts = self._post(body)
        if data is None:
            log.warning("openai backend %s: %s", self.base_url, error)
            return GenResult(text="", error=error, meta={"attempts": attempts})
        choice = data["choices"][0]
        lps = self._token_logprobs(choice) if req.logprobs else None
        return GenResult(
            text=self._text(choice),
            token_logprobs=lps,
            finish_reason=choice.get("finish_reason"),
            meta={"attempts": attempts, "usage": data.get("usage")},
        )

    def _token_logprobs(self, choice: dict[str, Any]) -> tuple[float, ...] | None:
        lp = choice.get("logprobs") or {}
        if self.endpoint == "completions":
            values = lp.get("token_logprobs")
            return tuple(float(v) for v in values) if values else None
        content = lp.get("content")
        return tuple(float(t["logprob"]) for t in content) if content else None

    def _score_one(self, req: ChoiceRequest) -> dict[str, float] | None:
        body = self._body(req.messages) | {"max_tokens": 1, "temperature": 0.0}
        body |= self._logprobs(self.top_logprobs)
        data, error, _ = self._post(body)
        if data is None:
            log.warning("openai backend %s: scoring failed: %s", self.base_url, error)
            return None
        try:
            alts = [(t.strip(), lp) for t, lp in self._alternatives(data["choices"][0])]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            return None  # the server returns no log-probs
        out: dict[str, float] = {}
        for c in req.choices:
            lps = [lp for tok, lp in alts if tok == c.strip()]
            if not lps:
                return None
            top = max(lps)
            out[c] = top + math.log(sum(math.exp(lp - top) for lp in lps))
        return out

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        return self._map(self._generate_one, requests)

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float] | None]:
        return self._map(self._score_one, requests)
