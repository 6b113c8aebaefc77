"""From transcript records to one results row: accuracy, calibration, gap closed, splits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from sandwich.metrics import gap_closed, judge_accuracy, split_accuracy
from sandwich.protocols.results import FLAG_FAILED, FLAG_SMALL_GAP, FLAG_UNPARSED, ProtocolRow
from sandwich.protocols.transcripts import TranscriptRecord


def p_correct(records: Sequence[TranscriptRecord]) -> dict[str, float]:
    """Item id -> P(right answer) for scored items; unparsed items count as 0.5 (flagged)."""
    return {
        r.item_id: (0.5 if r.p_correct is None else r.p_correct)
        for r in records
        if r.status != "failed"
    }


def measure(
    name: str,
    records: Sequence[TranscriptRecord],
    naive: Sequence[TranscriptRecord] | None,
    seed: int,
    transcripts: str,
    n_boot: int,
) -> ProtocolRow:
    first = records[0]
    scored = p_correct(records)
    n_unparsed = sum(r.status == "unparsed" for r in records)
    n_failed = sum(r.status == "failed" for r in records)
    flags = ([FLAG_UNPARSED] if n_unparsed else []) + ([FLAG_FAILED] if n_failed else [])
    quotes = [q for r in records for t in r.turns for q in t.quotes]
    methods = Counter(j.method for r in records for j in r.judgements)
    row = ProtocolRow(
        protocol=name,
        name=first.protocol,
        params=first.protocol_params,
        seed=seed,
        n_items=len(records),
        n_scored=len(scored),
        n_unparsed=n_unparsed,
        n_failed=n_failed,
        accuracy=None,
        accuracy_ci=None,
        ece=None,
        brier=None,
        quotes=len(quotes),
        quotes_verified=sum(q.verified for q in quotes),
        methods=dict(sorted(methods.items())),
        transcripts=transcripts,
        flags=flags,
    )
    if not scored:
        return row
    p = np.array(list(scored.values()))
    acc = judge_accuracy(p, n_boot=n_boot, seed=seed)
    update: dict[str, object] = {
        "accuracy": acc.accuracy,
        "accuracy_ci": tuple(acc.ci),
        "ece": acc.ece,
        "brier": acc.brier,
    }
    if naive is not None:
        base = p_correct(naive)
        ids = [i for i in scored if i in base]
        if ids:
            g = gap_closed(
                [scored[i] for i in ids], [base[i] for i in ids], n_boot=n_boot, seed=seed
            )
            update |= {
                "gap_closed": g.closed,
                "gap_closed_ci": tuple(g.ci),
                "naive_accuracy_paired": g.naive,
                "n_paired": len(ids),
            }
            if g.small_gap:
                flags.append(FLAG_SMALL_GAP)
    if first.protocol == "consultancy":
        ok = [r for r in records if r.status != "failed"]
        split = split_accuracy(
            [scored[r.item_id] for r in ok],
            [bool(r.extra.get("consultant_correct")) for r in ok],
            n_boot=n_boot,
            seed=seed,
        )
        if split.right:
            update |= {
                "consultant_right_accuracy": split.right.accuracy,
                "consultant_right_ci": tuple(split.right.ci),
            }
        if split.wrong:
            update |= {
                "consultant_wrong_accuracy": split.wrong.accuracy,
                "consultant_wrong_ci": tuple(split.wrong.ci),
            }
    return row.model_copy(update={**update, "flags": flags})
