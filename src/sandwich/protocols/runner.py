"""Run one protocol on items: assistant turns, then the judge in both answer orders.

Order 0 shows ``choices[0]`` as A; order 1 shows it as B. A protocol may ask
for several readings of the turns (debate: each side speaking first, see
:class:`sandwich.protocols.base.Reading`); every reading is judged in both
orders. The item's P(choices[0]) is the mean over the two answer orders of
the mean over that order's readings that gave a probability, so a judge that
always says "A", or always believes the first speaker, scores exactly 0.5
and position bias cannot pass for skill. Status per item:

- ``failed``: an assistant turn or a judge call failed after the backend's
  retries (``reason`` says which and why); no probability. Errors are never
  cached, so running again retries exactly these items.
- ``unparsed``: the judge's reply could not be read in either order and the
  backend has no log-probs (see :mod:`sandwich.protocols.judge`); no probability.
- ``ok``: otherwise. ``extra["orders_used"]`` is 1 when every judgement in one
  answer order was unparsed: the item was then judged in one order only, its
  position bias not cancelled (counted per protocol, see
  :mod:`sandwich.protocols.measure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tqdm import tqdm

from sandwich.models.generation.base import Generator
from sandwich.protocols.base import (
    ORDERS,
    GenParams,
    OversightProtocol,
    Reading,
    Speaker,
    Turn,
    transcript_text,
)
from sandwich.protocols.judge import Judge, JudgeInput, JudgeVerdict
from sandwich.protocols.quotes import mark_quotes
from sandwich.protocols.transcripts import (
    JudgementRecord,
    TranscriptRecord,
    TurnRecord,
)
from sandwich.registry import spec_of
from sandwich.tasks.choices import ChoiceView, choice_view
from sandwich.tasks.item import Item


def _cells(readings: Sequence[Reading]) -> list[tuple[int, Reading]]:
    """(answer order, reading) of every judgement of one item, answer order first."""
    return [(k, r) for k in range(len(ORDERS)) for r in readings]


def _judge_inputs(
    view: ChoiceView, turns: Sequence[Turn], readings: Sequence[Reading], passage: bool
) -> list[JudgeInput]:
    """The judge's input for each :func:`_cells` entry (quotes marked once)."""
    marked = [Turn(t.speaker, mark_quotes(t.text, view.passage)) for t in turns]
    return [
        JudgeInput(
            view.question,
            (view.choices[ORDERS[k][0]], view.choices[ORDERS[k][1]]),
            transcript_text([marked[i] for i in r.turns]),
            view.passage if passage else None,
        )
        for k, r in _cells(readings)
    ]


def _judgement(order: int, reading: Reading, v: JudgeVerdict) -> JudgementRecord:
    shown = ORDERS[order]
    p0 = None if v.p_a is None else (v.p_a if shown[0] == 0 else 1.0 - v.p_a)
    return JudgementRecord(
        order=order,
        shown=list(shown),
        first_speaker=reading.first_speaker,
        turns=list(reading.turns),
        p_choice0=p0,
        **asdict(v),  # p_a, method, text, error, cache_key
    )


def protocol_name(protocol: OversightProtocol) -> str:
    spec = spec_of(protocol)
    return spec.name if spec else getattr(protocol, "name", type(protocol).__name__)


def run_protocol(
    protocol: OversightProtocol,
    items: Sequence[Item],
    judge: Judge,
    assistant: Generator | None,
    params: GenParams,
    seed: int,
    batch_size: int = 16,
    progress: bool = False,
) -> list[TranscriptRecord]:
    """One :class:`TranscriptRecord` per item, in order (batches of ``batch_size`` items)."""
    if protocol.uses_assistant and assistant is None:
        raise ValueError(f"protocol {protocol_name(protocol)!r} needs an assistant model")
    models: dict[str, Any] = {"judge": judge.generator.describe()}
    if protocol.uses_assistant and assistant is not None:
        models["assistant"] = assistant.describe()
    generation = {
        "assistant": params.model_dump() if protocol.uses_assistant else None,
        "judge": {"method": judge.method, "max_new_tokens": judge.max_new_tokens},
    }
    protocol.prepare([it.id for it in items], seed)
    out: list[TranscriptRecord] = []
    speaker = Speaker(assistant, params, seed) if assistant is not None else None
    starts = range(0, len(items), batch_size)
    for lo in tqdm(starts, desc=protocol_name(protocol), disable=not progress, unit="batch"):
        batch = list(items[lo : lo + batch_size])
        views = [choice_view(it) for it in batch]
        turns = protocol.turns(views, speaker, [it.id for it in batch])
        ok = [i for i, ts in enumerate(turns) if not any(t.error for t in ts)]
        readings = {i: protocol.readings(views[i], turns[i]) for i in ok}
        passage = protocol.judge_sees_passage
        inputs = [
            inp for i in ok for inp in _judge_inputs(views[i], turns[i], readings[i], passage)
        ]
        verdicts = iter(judge.judge(inputs))
        per_item = {
            i: [_judgement(k, r, next(verdicts)) for k, r in _cells(readings[i])] for i in ok
        }
        for i, it in enumerate(batch):
            out.append(
                _record(protocol, it, views[i], turns[i], per_item.get(i), seed, models, generation)
            )
    return out


def order_means(judgements: Sequence[JudgementRecord]) -> list[float]:
    """Per answer order with any probability: the mean P(choices[0]) over its readings."""
    out = []
    for k in range(len(ORDERS)):
        ps = [j.p_choice0 for j in judgements if j.order == k and j.p_choice0 is not None]
        if ps:
            out.append(sum(ps) / len(ps))
    return out


def _record(
    protocol: OversightProtocol,
    item: Item,
    view: ChoiceView,
    turns: list[Turn],
    judgements: list[JudgementRecord] | None,
    seed: int,
    models: dict[str, Any],
    generation: dict[str, Any],
) -> TranscriptRecord:
    judgements = judgements or []
    probs = order_means(judgements)
    extra = protocol.item_extra(view, turns)
    failed_turn = next((t for t in turns if t.error), None)
    failed_judge = next((j for j in judgements if j.error), None)
    reason = None
    if failed_turn is not None:
        status, reason = "failed", f"{failed_turn.speaker}: {failed_turn.error}"
    elif failed_judge is not None:
        status, reason = "failed", f"judge (order {failed_judge.order}): {failed_judge.error}"
    elif not probs:
        status, reason = "unparsed", "the judge's reply named no answer in either order"
    else:
        status = "ok"
        extra["orders_used"] = len(probs)
    p0 = sum(probs) / len(probs) if probs and status == "ok" else None
    return TranscriptRecord(
        protocol=protocol_name(protocol),
        protocol_params=protocol.params(),
        seed=seed,
        item_id=item.id,
        question=view.question,
        choices=list(view.choices),
        correct=view.correct,
        passage=view.passage,
        models=models,
        generation=generation,
        turns=[TurnRecord.model_validate(asdict(t)) for t in turns],  # the same fields
        judgements=judgements,
        p_choice0=p0,
        p_correct=None if p0 is None else (p0 if view.correct == 0 else 1.0 - p0),
        status=status,
        reason=reason,
        extra=extra,
    )
