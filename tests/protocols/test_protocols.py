"""Protocols on the fake generation backend: turns, both orders, failures, assignments."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sandwich.errors import ConfigError
from sandwich.models.generation import FakeGenerator, GenRequest
from sandwich.protocols import PROTOCOLS, GenParams, Judge, OversightProtocol, run_protocol
from sandwich.protocols.consultancy import assigned_correct
from sandwich.protocols.measure import measure
from sandwich.protocols.results import FLAG_ONE_ORDER, ProtocolRow
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
    assistant = _QuotingDebaters()
    judge_gen = _VerifiedJudge()
    records = run_protocol(
        PROTOCOLS.build("debate"), items, Judge(judge_gen), assistant, PARAMS, seed=0
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


def _debate(item: Item, mode: str, assistant: FakeGenerator, rounds: int = 2):  # type: ignore[no-untyped-def]
    return run_protocol(
        PROTOCOLS.build("debate", rounds=rounds, mode=mode),
        [item],
        Judge(FakeGenerator()),
        assistant,
        PARAMS,
        seed=0,
    )[0]


def test_simultaneous_debate_shares_turns_between_speaking_orders(
    dossier_items: list[Item],
) -> None:
    assistant = FakeGenerator()
    item = dossier_items[0]
    v = choice_view(item)
    rec = _debate(item, "simultaneous", assistant)
    names = [f'Debater for "{v.choices[0]}"', f'Debater for "{v.choices[1]}"']
    assert [t.speaker for t in rec.turns] == names * 2  # named by answer, not by letter
    assert [t.argues_for for t in rec.turns] == [0, 1, 0, 1]
    assert all(t.first_speaker is None for t in rec.turns)
    calls = _gen_calls(assistant)
    assert len(calls) == 4  # one turn per debater and round: not written twice
    a1, b1 = rec.turns[0].text, rec.turns[1].text
    assert a1 not in calls[1].messages[-1].content  # round 1: neither sees the other
    # round 2: both see round 1, each with its own turn listed first
    r2a, r2b = calls[2].messages[-1].content, calls[3].messages[-1].content
    assert r2a.index(a1) < r2a.index(b1) and r2b.index(b1) < r2b.index(a1)
    # judged with each side first in every round, each in both answer orders
    cells = {(j.order, j.first_speaker): j.turns for j in rec.judgements}
    assert cells == {
        (0, 0): [0, 1, 2, 3],
        (1, 0): [0, 1, 2, 3],
        (0, 1): [1, 0, 3, 2],
        (1, 1): [1, 0, 3, 2],
    }
    assert rec.protocol_params == {"rounds": 2, "mode": "simultaneous"}


def test_sequential_debate_is_written_once_per_first_speaker(dossier_items: list[Item]) -> None:
    assistant = FakeGenerator()
    item = dossier_items[0]
    rec = _debate(item, "sequential", assistant)
    assert [t.first_speaker for t in rec.turns] == [0] * 4 + [1] * 4
    assert [t.argues_for for t in rec.turns] == [0, 1, 0, 1, 1, 0, 1, 0]
    calls = [c.messages[-1].content for c in _gen_calls(assistant)]
    assert len(calls) == 8
    # in the debate where choice 1's side speaks first, choice 0's side answers it
    first, second = rec.turns[4], rec.turns[5]
    seen_by_second = next(c for c in calls if first.text in c and "Round 1" in c)
    assert f'argue that the answer is "{choice_view(item).choices[0]}"' in seen_by_second
    assert second.text not in seen_by_second
    cells = {(j.order, j.first_speaker): j.turns for j in rec.judgements}
    assert cells[(0, 0)] == cells[(1, 0)] == [0, 1, 2, 3]
    assert cells[(0, 1)] == cells[(1, 1)] == [4, 5, 6, 7]


class _FirstSpeakerJudge(FakeGenerator):
    """Believes whoever speaks first: P(A) = 1 if the first quote in the transcript is answer A."""

    def score_choices(self, requests):  # type: ignore[no-untyped-def]
        self.calls.extend(requests)
        out = []
        for r in requests:
            body = r.messages[-1].content
            a = body.split("\nA: ", 1)[1].split("\n", 1)[0]
            turns = body.split("Transcript", 1)[1].split("\n", 1)[1]  # after the header line
            first = turns.split("ified>", 1)[1].split("</", 1)[0]
            out.append({"A": 0.0, "B": -50.0} if first == a else {"A": -50.0, "B": 0.0})
        return out


@pytest.mark.parametrize("mode", ["simultaneous", "sequential"])
def test_a_judge_believing_the_first_speaker_scores_exactly_half(
    dossier_items: list[Item], mode: str
) -> None:
    """Speaking first cannot pass for being right: each side speaks first in half the judgements."""
    judge = _FirstSpeakerJudge()
    records = run_protocol(
        PROTOCOLS.build("debate", mode=mode),
        dossier_items[:8],
        Judge(judge),
        _QuotingDebaters(),
        PARAMS,
        seed=0,
    )
    assert [r.p_correct for r in records] == [0.5] * 8
    # no debater is called A or B: the judge's letters belong to the answers only
    bodies = [c.messages[-1].content for c in judge.calls]
    assert not any("Debater A" in b or "Debater B" in b for b in bodies)
    row = measure("debate", records, None, 0, "t.jsonl", n_boot=200)
    # the bias is measured apart from the answer's position
    assert (row.acc_right_spoke_first, row.acc_right_spoke_second) == (1.0, 0.0)
    assert row.speaking_bias == 1.0 and row.speaking_n == 8
    assert (row.acc_right_shown_first, row.acc_right_shown_second, row.position_bias) == (
        0.5,
        0.5,
        0.0,
    )


def test_position_bias_of_an_always_a_judge(dossier_items: list[Item]) -> None:
    judge = Judge(FakeGenerator(default="A", can_score=False), method="text")
    records = run_protocol(PROTOCOLS.build("naive"), dossier_items, judge, None, PARAMS, seed=0)
    row = measure("naive", records, None, 0, "t.jsonl", n_boot=200)
    assert row.accuracy == 0.5 and row.position_n == len(dossier_items)
    assert (row.acc_right_shown_first, row.acc_right_shown_second) == (1.0, 0.0)
    assert row.position_bias == 1.0 and row.position_bias_ci == (1.0, 1.0)
    assert row.speaking_n is None  # no sides speak in naive


def _one_order_judge(items: Sequence[Item], broken: int) -> Judge:
    """Answers "A", except that order 1 of the first ``broken`` items is unreadable."""
    rules = {}
    for it in items[:broken]:
        v = choice_view(it)
        rules[f"A: {v.choices[1]}\nB: {v.choices[0]}"] = "no idea"
    return Judge(FakeGenerator(rules=rules, default="A", can_score=False), method="text")


@pytest.mark.parametrize(("broken", "flagged"), [(3, True), (1, False)])
def test_items_judged_in_one_order_are_counted_and_flagged(
    dossier_items: list[Item], broken: int, flagged: bool
) -> None:
    records = run_protocol(
        PROTOCOLS.build("naive"),
        dossier_items,
        _one_order_judge(dossier_items, broken),
        None,
        PARAMS,
        0,
    )
    assert [r.extra["orders_used"] for r in records[:4]] == [1] * broken + [2] * (4 - broken)
    row = measure("naive", records, None, 0, "t.jsonl", n_boot=100)
    # 3 of 24 items is 12.5% > 5%: flagged; 1 of 24 (4.2%) is counted, not flagged
    assert row.n_one_order == broken and (FLAG_ONE_ORDER in row.flags) == flagged
    assert row.position_n == len(dossier_items) - broken  # only items judged both ways


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
    assistant = FakeGenerator(
        rules={"Explain in at most": f"Because. Answer: {v.choices[v.correct]}"}
    )
    rec = run_protocol(
        PROTOCOLS.build("critique"), [item], Judge(FakeGenerator()), assistant, PARAMS, seed=0
    )[0]
    assert [t.speaker for t in rec.turns] == ["Answerer", "Critic"]
    assert rec.extra == {"answerer_choice": v.correct, "answerer_correct": True, "orders_used": 2}
    critic_prompt = _gen_calls(assistant)[1].messages[-1].content
    assert rec.turns[0].text in critic_prompt


def test_failed_turn_marks_only_that_item(dossier_items: list[Item]) -> None:
    bad = choice_view(dossier_items[1]).question
    assistant = FakeGenerator(fail_on=[bad])
    records = run_protocol(
        PROTOCOLS.build("debate"), dossier_items[:4], Judge(FakeGenerator()), assistant, PARAMS, 0
    )
    assert [r.status for r in records] == ["ok", "failed", "ok", "ok"]
    assert records[1].reason is not None and "scripted failure" in records[1].reason
    assert records[1].p_correct is None and records[1].judgements == []


def test_unparsed_verdicts_are_flagged_not_guessed(dossier_items: list[Item]) -> None:
    judge = Judge(FakeGenerator(default="no idea", can_score=False), method="text")
    (rec,) = run_protocol(PROTOCOLS.build("naive"), dossier_items[:1], judge, None, PARAMS, 0)
    assert rec.status == "unparsed" and rec.p_correct is None


def test_sampling_sends_the_seed_greedy_does_not(dossier_items: list[Item]) -> None:
    assistant = FakeGenerator()
    hot = GenParams(max_new_tokens=8, temperature=0.7)
    run_protocol(
        PROTOCOLS.build("consultancy"),
        dossier_items[:2],
        Judge(FakeGenerator()),
        assistant,
        hot,
        seed=11,
    )
    assert {c.seed for c in _gen_calls(assistant)} == {11}
    assert PARAMS.request([], 11).seed is None


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("debate", {"rounds": 0}, "rounds: Input should be greater than or equal to 1"),
        ("debate", {"mode": "parallel"}, "mode: Input should be 'simultaneous' or 'sequential'"),
        ("consultancy", {"rounds": 1.5}, "rounds: Input should be a valid integer"),
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


@pytest.mark.parametrize("name", ["consultancy", "debate", "critique"])
def test_turns_without_the_assistant_name_what_is_missing(
    dossier_items: list[Item], name: str
) -> None:
    """A ValueError, not an assert (removed by python -O) or an AttributeError on None."""
    views, ids = [choice_view(it) for it in dossier_items[:2]], [it.id for it in dossier_items[:2]]
    with pytest.raises(ValueError, match=f"{name}: the assistant's speaker is missing"):
        PROTOCOLS.build(name).turns(views, None, ids)


def test_every_protocol_says_whether_it_uses_the_assistant() -> None:
    """``uses_assistant`` on the base class (not named after ``typing.Protocol``)."""
    uses = {name: PROTOCOLS.build(name).uses_assistant for name in PROTOCOLS.names()}
    assert uses == {"naive": False, "consultancy": True, "debate": True, "critique": True}
    assert all(isinstance(PROTOCOLS.build(n), OversightProtocol) for n in PROTOCOLS.names())


class _OracleJudge(FakeGenerator):
    """Always right: P(A) = 1 exactly when A is the right answer to the question asked."""

    def __init__(self, right: dict[str, str]) -> None:
        super().__init__()
        self.right = right  # question -> right answer

    def score_choices(self, requests):  # type: ignore[no-untyped-def]
        out = []
        for r in requests:
            body = r.messages[-1].content
            q = body.split("Question: ", 1)[1].split("\n", 1)[0]
            a = body.split("\nA: ", 1)[1].split("\n", 1)[0]
            good = self.right[q] == a
            out.append({"A": 0.0, "B": -50.0} if good else {"A": -50.0, "B": 0.0})
        return out


def test_a_perfect_naive_judge_leaves_no_gap_and_the_row_still_loads(
    dossier_items: list[Item],
) -> None:
    """Gap 0 in every resample: no gap-closed interval, flagged, and results.json round-trips."""
    views = [choice_view(it) for it in dossier_items]
    judge = Judge(_OracleJudge({v.question: v.choices[v.correct] for v in views}))
    naive = run_protocol(PROTOCOLS.build("naive"), dossier_items, judge, None, PARAMS, 0)
    cons = run_protocol(
        PROTOCOLS.build("consultancy"), dossier_items, judge, FakeGenerator(), PARAMS, 0
    )
    row = measure("consultancy", cons, naive, 0, "t.jsonl", n_boot=100)
    assert row.gap == 0.0 and row.gap_ci == (0.0, 0.0) and "small_gap" in row.flags
    assert row.gap_closed_ci is None
    assert ProtocolRow.model_validate_json(row.model_dump_json()) == row.model_copy(
        update={"gap_closed": None}  # NaN is stored as null
    )
