"""The fake backend's script, the config schema, and make_generator."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from sandwich.errors import UnknownNameError
from sandwich.models.generation import (
    GENERATORS,
    CachedGenerator,
    ChoiceRequest,
    FakeGenerator,
    GenRequest,
    Message,
    generator_config,
    make_generator,
)
from sandwich.registry import spec_of


def _req(text: str, **kw: object) -> GenRequest:
    return GenRequest((Message("user", text),), **kw)  # type: ignore[arg-type]


def test_fake_rules_default_failures_and_limits() -> None:
    fake = FakeGenerator(rules={"capital": "Paris is the capital"}, fail_on=("explode",))
    out = fake.generate(
        [
            _req("what is the capital?"),
            _req("what is the capital?", max_new_tokens=2),
            _req("what is the capital?", stop=(" the",)),
            _req("please explode"),
            _req("other"),
            _req("other"),
        ]
    )
    assert out[0].text == "Paris is the capital" and out[0].finish_reason == "stop"
    assert out[1].text == "Paris is" and out[1].finish_reason == "length"
    assert out[2].text == "Paris is"
    assert out[3].error is not None and "explode" in out[3].error and out[3].text == ""
    assert out[4].text.startswith("fake reply ") and out[4].text == out[5].text


def test_fake_sampling_depends_on_seed() -> None:
    fake = FakeGenerator()
    a, b, c = fake.generate(
        [
            _req("x", temperature=1.0, seed=1),
            _req("x", temperature=1.0, seed=1),
            _req("x", temperature=1.0, seed=2),
        ]
    )
    assert a.text == b.text != c.text
    u1, u2 = fake.generate([_req("x", temperature=1.0), _req("x", temperature=1.0)])
    assert u1.text != u2.text


def test_fake_judge_prefers_the_most_argued_choice() -> None:
    fake = FakeGenerator()
    (s,) = fake.score_choices([ChoiceRequest((Message("user", "B is right. B! A?"),), ("A", "B"))])
    assert s is not None and s["B"] > s["A"]
    assert sum(math.exp(v) for v in s.values()) == pytest.approx(1.0)


def test_config_validation_names_the_problem() -> None:
    with pytest.raises(ValidationError, match="base_url"):
        generator_config(backend="openai", model="m")
    with pytest.raises(ValidationError, match=r"local.base_url\n  Extra inputs"):
        generator_config(backend="local", model="m", base_url="http://x/v1")
    with pytest.raises(ValidationError, match="NAME of an environment variable"):
        generator_config(
            backend="openai", model="m", base_url="http://x/v1", api_key_env="sk-abc123"
        )
    with pytest.raises(ValidationError, match="backend"):
        generator_config(backend="vllm", model="m")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"openai.concurrency\n  Input should be greater"):
        generator_config(backend="openai", model="m", base_url="http://x/v1", concurrency=0)
    with pytest.raises(ValidationError, match=r"fake.concurrency\n  Extra inputs"):
        generator_config(backend="fake", model="m", concurrency=4)
    with pytest.raises(ValidationError, match="extra"):
        generator_config(backend="fake", model="m", api_key="sk-abc")  # type: ignore[call-arg]


def test_make_generator_wraps_in_cache_and_records_spec(tmp_path: Path) -> None:
    cfg = generator_config(backend="fake", model="f", cache_path=tmp_path / "c.sqlite")
    gen = make_generator(cfg.model_copy(update={"rules": {"hi": "hello"}}))
    assert isinstance(gen, CachedGenerator) and isinstance(gen.inner, FakeGenerator)
    spec = spec_of(gen.inner)
    assert spec is not None and spec.name == "fake" and spec.params["model"] == "f"
    assert spec.params["rules"] == {"hi": "hello"}  # a fake script is a parameter, recorded
    assert gen.generate([_req("hi")])[0].text == "hello"
    assert gen.generate([_req("hi")])[0].cached
    bare = make_generator(generator_config(backend="fake", model="f", cache=False))
    assert isinstance(bare, FakeGenerator)


def test_unknown_backend_name_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'local'"):
        GENERATORS.entry("locl")


def test_local_backend_rejects_a_model_that_cannot_generate() -> None:
    from sandwich.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot generate"):
        make_generator(generator_config(backend="local", model="fake-weak", cache=False))


def test_bad_requests_name_the_field() -> None:
    msgs = (Message("user", "q"),)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        GenRequest(msgs, max_new_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        GenRequest(msgs, temperature=-0.1)
    with pytest.raises(ValueError, match="top_p"):
        GenRequest(msgs, top_p=0.0)
    with pytest.raises(ValueError, match=r"messages\[0\].role is 'tool'"):
        GenRequest((Message("tool", "x"),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="choices is empty"):
        ChoiceRequest(msgs, ())
