"""Protocols on the fake generation backend: turns, both orders, failures, assignments."""

from __future__ import annotations

import pytest

from sandwich.errors import ConfigError
from sandwich.models.generation import FakeGenerator, GenRequest
from sandwich.protocols import PROTOCOLS, GenParams, Judge, run_protocol
from sandwich.protocols.consultancy import assigned_correct
from sandwich.tasks import Item
from sandwich.tasks.choices import choice_view

PARAMS = GenParams(max_new_tokens=32)


def _gen_calls(gen: FakeGenerator) -> list[GenRequest]:
    return [c for c in gen.calls if isinstance(c, GenRequest)]


def test_always_a_judge_scores_exactly_half(dossier_items: list[Item]) -> None:
    """Position bias cannot pass for skill: both orders are averaged."""
    judge = Judge(FakeGenerator(default="A", can_score=False), method="text")
    records = run_protocol(PROTOCOLS.build("naive"), dossier_items, judge, None, PARAMS, seed=0)
    assert all(r.p_correct == 0.5 and r.status == "ok" for r in records)
    for r in records:
        assert [j.shown for j in r.judgements] == [[0, 1], [1, 0]]
        assert [j.p_a for j in r.judgements] == [1.0, 1.0]


def test_judge_sees_both_orders(dossier_items: list[Item]) -> None:
    gen = FakeGenerator(default="A", can_score=False)
    item = dossier_items[0]
    run_protocol(PROTOCOLS.build("naive"), [item], Judge(gen, "text"), None, PARAMS, seed=0)
    v = choice_view(item)
    first, second = (c.messages[-1].content for c in _gen_calls(gen))
    assert f"A: {v.choices[0]}\nB: {v.choices[1]}" in first
    assert f"A: {v.choices[1]}\nB: {v.choices[0]}" in second
    assert v.passage not in first  # the judge never sees the passage


def test_a_judge_following_verified_quotes_is_right(dossier_items: list[Item]) -> None:
    """Debaters who quote the passage: a judge trusting <verified> quotes is always right."""
    # (the largest-city distractor, the second-largest city, is in the passage too)
    items = [it for it in dossier_items if it.metadata["kind"] != "largest-city"][:8]
    helper = _QuotingDebaters()
    judge_gen = _VerifiedJudge()
    records = run_protocol(
        PROTOCOLS.build("debate"), items, Judge(judge_gen), helper, PARAMS, seed=0
    )
    assert all(r.p_correct == 1.0 for r in records)
    assert all(any(q.verified for t in r.turns for q in t.quotes) for r in records)


class _QuotingDebaters(FakeGenerator):
    """Each debater quotes its own answer: only the right one is in the passage."""

    def generate(self, requests):  # type: ignore[no-untyped-def]
        out = []
        for r in requests:
            sys_msg = r.messages[0].content
            mine = sys_msg.split('the answer is "', 1)[1].split('"', 1)[0]
            out.append(type(super().generate([r])[0])(text=f"<quote>{mine}</quote>"))
        return out


class _VerifiedJudge(FakeGenerator):
    """P(A) = 1 if the transcript has a verified quote of answer A, else 0."""

    def score_choices(self, requests):  # type: ignore[no-untyped-def]
        out = []
        for r in requests:
            body = r.messages[-1].content
            a = body.split("\nA: ", 1)[1].split("\n", 1)[0]
            good = f"<verified>{a}</verified>" in body
            out.append({"A": 0.0 if good else -50.0, "B": -50.0 if good else 0.0})
        return out


@pytest.mark.parametrize("mode", ["simultaneous", "sequential"])
def test_debate_rounds_and_modes(dossier_items: list[Item], mode: str) -> None:
    helper = FakeGenerator()
    item = dossier_items[0]
    rec = run_protocol(
        PROTOCOLS.build("debate", rounds=2, mode=mode),
        [item],
        Judge(FakeGenerator()),
        helper,
        PARAMS,
        seed=0,
    )[0]
    assert [t.speaker for t in rec.turns] == ["Debater A", "Debater B"] * 2
    assert [t.argues_for for t in rec.turns] == [0, 1, 0, 1]
    calls = _gen_calls(helper)
    a1 = rec.turns[0].text
    # round 1: B sees A's first argument only in sequential mode
    assert (a1 in calls[1].messages[-1].content) == (mode == "sequential")
    # round 2: both see all of round 1
    assert (
        a1 in calls[2].messages[-1].content and rec.turns[1].text in calls[2].messages[-1].content
    )
    assert rec.protocol_params == {"rounds": 2, "mode": mode}


def test_consultancy_assignment_is_exactly_half_and_split(dossier_items: list[Item]) -> None:
    records = run_protocol(
        PROTOCOLS.build("consultancy"),
        dossier_items,
        Judge(FakeGenerator()),
        FakeGenerator(),
        PARAMS,
        seed=5,
        batch_size=5,
    )
    right = [r.extra["consultant_correct"] for r in records]
    assert sum(right) == len(records) // 2
    for r in records:
        side = r.turns[0].argues_for
        assert (side == r.correct) == r.extra["consultant_correct"]
    ids = [it.id for it in dossier_items]
    assert assigned_correct(ids, 5) == assigned_correct(ids, 5) != assigned_correct(ids, 6)
    assert assigned_correct(ids[::-1], 5) == assigned_correct(ids, 5)[::-1]  # per item, not order


def test_critique_records_the_answerers_choice(dossier_items: list[Item]) -> None:
    item = dossier_items[0]
    v = choice_view(item)
    helper = FakeGenerator(rules={"Explain in at most": f"Because. Answer: {v.choices[v.correct]}"})
    rec = run_protocol(
        PROTOCOLS.build("critique"), [item], Judge(FakeGenerator()), helper, PARAMS, seed=0
    )[0]
    assert [t.speaker for t in rec.turns] == ["Answerer", "Critic"]
    assert rec.extra == {"answerer_choice": v.correct, "answerer_correct": True, "orders_used": 2}
    critic_prompt = _gen_calls(helper)[1].messages[-1].content
    assert rec.turns[0].text in critic_prompt


def test_failed_turn_marks_only_that_item(dossier_items: list[Item]) -> None:
    bad = choice_view(dossier_items[1]).question
    helper = FakeGenerator(fail_on=[bad])
    records = run_protocol(
        PROTOCOLS.build("debate"), dossier_items[:4], Judge(FakeGenerator()), helper, PARAMS, 0
    )
    assert [r.status for r in records] == ["ok", "failed", "ok", "ok"]
    assert records[1].reason is not None and "scripted failure" in records[1].reason
    assert records[1].p_correct is None and records[1].judgements == []


def test_unparsed_verdicts_are_flagged_not_guessed(dossier_items: list[Item]) -> None:
    judge = Judge(FakeGenerator(default="no idea", can_score=False), method="text")
    (rec,) = run_protocol(PROTOCOLS.build("naive"), dossier_items[:1], judge, None, PARAMS, 0)
    assert rec.status == "unparsed" and rec.p_correct is None


def test_sampling_sends_the_seed_greedy_does_not(dossier_items: list[Item]) -> None:
    helper = FakeGenerator()
    hot = GenParams(max_new_tokens=8, temperature=0.7)
    run_protocol(
        PROTOCOLS.build("consultancy"),
        dossier_items[:2],
        Judge(FakeGenerator()),
        helper,
        hot,
        seed=11,
    )
    assert {c.seed for c in _gen_calls(helper)} == {11}
    assert PARAMS.request([], 11).seed is None


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("debate", {"rounds": 0}, "rounds must be"),
        ("debate", {"mode": "parallel"}, "simultaneous or sequential"),
        ("consultancy", {"rounds": True}, "rounds must be"),
    ],
)
def test_bad_parameters(name: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PROTOCOLS.build(name, **params)


def test_protocol_needing_an_assistant_refuses_without(dossier_items: list[Item]) -> None:
    with pytest.raises(ValueError, match="needs an assistant"):
        run_protocol(
            PROTOCOLS.build("debate"), dossier_items, Judge(FakeGenerator()), None, PARAMS, 0
        )
