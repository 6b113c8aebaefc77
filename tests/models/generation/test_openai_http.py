"""The HTTP backend against a scripted local server: retries, backoff, failures, secrets."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from sandwich.errors import ConfigError
from sandwich.models.generation import (
    ChoiceRequest,
    GenRequest,
    Message,
    ResponseCache,
    generator_config,
    make_generator,
)
from sandwich.models.generation.openai_http import OpenAIGenerator

sys.path.insert(0, str(Path(__file__).parent))
from scripted_server import Script, scripted_server

SECRET = "sk-test-0123456789abcdef-NEVER-LOG-ME"


def _req(text: str = "hello", **kw: object) -> GenRequest:
    return GenRequest((Message("user", text),), **kw)  # type: ignore[arg-type]


def _gen(url: str, sleeps: list[float] | None = None, **kw: object) -> OpenAIGenerator:
    params: dict[str, object] = {"max_retries": 3, "backoff": 0.01, "backoff_max": 0.05}
    params.update(kw)
    return OpenAIGenerator(
        "m",
        url,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        **params,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("fault", ["500", "429", "badjson", "nochoices"])
def test_transient_faults_are_retried_then_succeed(fault: str) -> None:
    script = Script(steps=[fault, fault])
    sleeps: list[float] = []
    with scripted_server(script) as url:
        res = _gen(url, sleeps).generate([_req("hi")])[0]
    assert res.error is None and res.text == "echo: hi"
    assert res.meta["attempts"] == 3
    assert len(script.received) == 3
    assert len(sleeps) == 2 and all(0 <= s <= 0.05 for s in sleeps)


def test_timeout_is_retried() -> None:
    script = Script(steps=["timeout"], delay=1.0)
    with scripted_server(script) as url:
        res = _gen(url, timeout=0.2).generate([_req("slow")])[0]
    assert res.error is None and res.text == "echo: slow"
    assert len(script.received) == 2


def test_backoff_grows_exponentially_with_jitter() -> None:
    script = Script(steps=["500"] * 5)
    sleeps: list[float] = []
    with scripted_server(script) as url:
        res = _gen(url, sleeps, max_retries=5, backoff=1.0, backoff_max=100.0).generate([_req()])[0]
    assert res.error is None
    assert len(sleeps) == 5
    # full jitter: attempt n waits uniformly in [0, 2**n * backoff]
    for n, s in enumerate(sleeps):
        assert 0 <= s <= 2**n


def test_persistent_fault_marks_only_that_item_failed() -> None:
    script = Script(steps=["ok", "500", "500", "500"])
    with scripted_server(script) as url:
        gen = _gen(url, max_retries=2, concurrency=1)
        res = gen.generate([_req("first"), _req("second"), _req("third")])
    assert res[0].error is None and res[0].text == "echo: first"
    assert res[1].text == "" and res[1].error is not None
    assert "failed after 3 attempt(s)" in res[1].error and "HTTP 500" in res[1].error
    assert res[2].error is None and res[2].text == "echo: third"


def test_client_error_is_not_retried() -> None:
    script = Script(steps=["400"])
    with scripted_server(script) as url:
        res = _gen(url).generate([_req()])[0]
    assert res.error is not None and "rejected" in res.error and "HTTP 400" in res.error
    assert len(script.received) == 1


def test_unreachable_server_fails_with_reason() -> None:
    with scripted_server(Script()) as url:
        pass  # closed: nothing listens on that port any more
    res = _gen(url, max_retries=1).generate([_req()])[0]
    assert res.error is not None and "connection error" in res.error


def test_failed_items_are_not_cached_and_retried_on_resume(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    script = Script(steps=["500"] * 3)
    with scripted_server(script) as url:
        cfg = generator_config(backend="openai", model="m", base_url=url, max_retries=2, backoff=0)
        gen = make_generator(cfg, cache=cache)
        assert gen.generate([_req("x")])[0].error is not None
        assert len(cache) == 0
        again = gen.generate([_req("x")])[0]  # the server has recovered: a rerun completes
        assert again.error is None and not again.cached and len(cache) == 1
        assert gen.generate([_req("x")])[0].cached
    assert len(script.received) == 4


def test_request_body_carries_every_parameter() -> None:
    script = Script()
    with scripted_server(script) as url:
        _gen(url).generate(
            [
                _req(
                    "p",
                    max_new_tokens=7,
                    temperature=0.7,
                    top_p=0.9,
                    seed=5,
                    stop=("\n",),
                    logprobs=True,
                )
            ]
        )
    body = script.received[0]["body"]
    assert body["model"] == "m" and body["messages"] == [{"role": "user", "content": "p"}]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (
        7,
        0.7,
        0.9,
        5,
    )
    assert body["stop"] == ["\n"] and body["logprobs"] is True


def test_logprobs_and_score_choices() -> None:
    with scripted_server(Script()) as url:
        gen = _gen(url)
        res = gen.generate([_req(logprobs=True)])[0]
        scores = gen.score_choices(
            [
                ChoiceRequest((Message("user", "q"),), ("A", "B")),
                ChoiceRequest((Message("user", "q"),), ("A", "C")),
            ]
        )
    assert res.token_logprobs == (-0.4,)
    import math

    first = scores[0]
    assert first is not None
    assert first["A"] == pytest.approx(math.log(math.exp(-0.4) + math.exp(-2.0)))  # " A" and "A"
    assert first["B"] == pytest.approx(-1.5)
    assert scores[1] is None  # "C" is not among the alternatives: no guess


def test_the_completions_endpoint_sends_plain_prompts_and_reads_legacy_logprobs() -> None:
    """A base model behind /completions (vLLM, llama.cpp): the messages joined by blank lines
    are the prompt; the same log-probs and scores as the chat endpoint's."""
    script = Script()
    claim = "Paris is in France.\nI think this claim is True"
    msgs = (Message("user", claim), Message("user", "q"))
    with scripted_server(script) as url:
        gen = _gen(url, endpoint="completions")
        res = gen.generate([_req("hello", logprobs=True)])[0]
        scores = gen.score_choices([ChoiceRequest(msgs, ("A", "B"))])
    assert res.text == "echo: hello" and res.token_logprobs == (-0.4,)
    assert [r["path"] for r in script.received] == ["/v1/completions"] * 2
    body = script.received[1]["body"]
    assert body["prompt"] == "Paris is in France.\nI think this claim is True\n\nq"
    assert "messages" not in body and body["logprobs"] == 20 and body["max_tokens"] == 1
    first = scores[0]
    assert first is not None
    assert first["A"] == pytest.approx(math.log(math.exp(-0.4) + math.exp(-2.0)))
    assert first["B"] == pytest.approx(-1.5)
    # the endpoint is part of what the cache keys on; chat's description is unchanged
    assert gen.describe()["endpoint"] == "completions"
    assert "endpoint" not in _gen(url).describe()
    with pytest.raises(ValidationError, match="endpoint"):
        generator_config(backend="openai", model="m", base_url=url, endpoint="text")


def test_api_key_is_sent_but_never_exposed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SANDWICH_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    cache_path = tmp_path / "c.sqlite"
    script = Script(steps=["500", "500"])
    with scripted_server(script) as url:
        cfg = generator_config(
            backend="openai",
            model="m",
            base_url=url,
            api_key_env="SANDWICH_TEST_KEY",
            max_retries=1,
            backoff=0,
            cache_path=cache_path,
        )
        gen = make_generator(cfg)
        failed = gen.generate([_req("a")])[0]
        ok = gen.generate([_req("b")])[0]
        gen.score_choices([ChoiceRequest((Message("user", "q"),), ("A", "B"))])
    assert script.received[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert ok.error is None
    exposed = [
        repr(gen),
        str(gen.describe()),
        repr(cfg),
        cfg.model_dump_json(),
        str(failed),
        str(ok),
        caplog.text,
    ]
    assert not any(SECRET in s for s in exposed)
    assert not any(SECRET[:12] in s for s in exposed)
    for f in tmp_path.iterdir():  # the cache file and its WAL
        assert SECRET.encode() not in f.read_bytes()


def test_missing_api_key_env_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDWICH_ABSENT_KEY", raising=False)
    with pytest.raises(ConfigError, match="SANDWICH_ABSENT_KEY"):
        OpenAIGenerator("m", "http://127.0.0.1:9/v1", api_key_env="SANDWICH_ABSENT_KEY")


def test_bad_base_url_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="not an http"):
        OpenAIGenerator("m", "127.0.0.1:8000")
    with pytest.raises(ConfigError, match="credentials"):
        OpenAIGenerator("m", "http://user:pw@127.0.0.1:8000/v1")


def test_concurrency_limit_is_respected() -> None:
    script = Script(steps=["timeout"] * 8, delay=0.3)
    with scripted_server(script) as url:
        gen = _gen(url, concurrency=4, timeout=5)
        res = gen.generate([_req(str(i)) for i in range(8)])
    assert [r.text for r in res] == [f"echo: {i}" for i in range(8)]  # order kept
    # 8 slow requests, at most 4 at a time: the server saw 4 at once, never more
    # (counted at the server, so a loaded machine cannot make this flaky)
    assert script.max_in_flight == 4
