"""The judge: letter parsing, log-prob verdicts, and the documented parse fallback."""

from __future__ import annotations

import pytest

from sandwich.models.generation import FakeGenerator
from sandwich.protocols.judge import Judge, JudgeInput, parse_letter

ANSWERS = ("Kuwait City", "Male")
INPUT = JudgeInput("What is the capital of Kuwait?", ANSWERS, "")


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("A", 0),
        ("B.", 1),
        ("(B) because", 1),
        ("The answer is B", 1),
        ("Verdict: A", 0),
        ("the answer is a city", None),
        ("I think Kuwait City is right", 0),
        ("Male, clearly", 1),
        ("A or B, hard to say", 0),  # starts with the letter: rule 2
        ("Both Kuwait City and Male are cities", None),
        ("I do not know", None),
        ("", None),
    ],
)
def test_parse_letter(text: str, letter: int | None) -> None:
    assert parse_letter(text, ANSWERS) == letter


def test_auto_uses_answer_logprobs() -> None:
    gen = FakeGenerator()
    (v,) = Judge(gen).judge([INPUT])
    assert v.method == "logprobs" and v.p_a is not None and 0 < v.p_a < 1
    assert not any(hasattr(c, "max_new_tokens") for c in gen.calls)  # nothing generated


def test_text_mode_parses_reply() -> None:
    (v,) = Judge(FakeGenerator(default="B"), method="text").judge([INPUT])
    assert (v.method, v.p_a, v.text) == ("text", 0.0, "B")


def test_auto_without_logprobs_falls_back_to_text() -> None:
    (v,) = Judge(FakeGenerator(default="Answer: A", can_score=False)).judge([INPUT])
    assert (v.method, v.p_a) == ("text", 1.0)


def test_unparsable_reply_falls_back_to_logprobs() -> None:
    (v,) = Judge(FakeGenerator(default="hmm, hard"), method="text").judge([INPUT])
    assert v.method == "text-fallback-logprobs" and v.p_a is not None
    assert v.text == "hmm, hard"


def test_unparsable_without_logprobs_is_unparsed_not_guessed() -> None:
    (v,) = Judge(FakeGenerator(default="hmm", can_score=False), method="text").judge([INPUT])
    assert (v.method, v.p_a) == ("unparsed", None)


def test_backend_failure_is_reported() -> None:
    gen = FakeGenerator(fail_on=["Kuwait"], can_score=False)
    (v,) = Judge(gen, method="text").judge([INPUT])
    assert v.method == "failed" and v.p_a is None and "scripted failure" in (v.error or "")
