"""Pairwise items: the pairs file, the study config, the drawing of items, the
answer in the canonical order, the aggregation into P(A preferred) and the
rater's pages through the real app (TestClient, SQLite in tmp_path)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import func, select, text

from sandwich.errors import ConfigError, InputFileError
from sandwich.feedback.analysis.export import export_labels
from sandwich.feedback.analysis.pair_preferences import (
    comparison_preferences,
    pair_preferences,
    position_bias,
    study_pair_preferences,
)
from sandwich.feedback.analysis.study_status import labels_frame
from sandwich.feedback.pairs import (
    Pair,
    canonical_answer,
    load_pairs,
    pair_swapped,
    pairs_from_comparisons,
    shown_pair,
    write_pairs,
)
from sandwich.feedback.store.db import Item
from sandwich.feedback.store.studies import get_study
from sandwich.feedback.study_config import load_study, parse_study
from sandwich.feedback.study_items import study_items

from .conftest import better_shown, write_pairs_file, write_pairs_study  # type: ignore[import-not-found]


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# --- the pairs file -----------------------------------------------------------------------


def test_pairs_file_reads_both_forms(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"prompt": "p1", "completion_a": "x", "completion_b": "y", "gold": "b"},
            {"prompt": "p1", "completion_a": "y", "completion_b": "x", "gold": 1},
            {"prompt": "p2", "completion_a": "x", "completion_b": "y", "gold": "tie"},
            {"prompt": "p2", "completion_a": "y", "completion_b": "z"},
            {"prompt": "p3", "chosen": "good", "rejected": "bad"},
            {"prompt": "p3", "chosen": "ok", "rejected": "meh", "chosen_score": 0.2,
             "rejected_score": 0.7, "prompt_id": "abc", "a": 3, "b": 1, "id": "my-pair"},
        ],
    )  # fmt: skip
    pairs = load_pairs(path)
    assert [p.gold for p in pairs] == [0.0, 1.0, 0.5, None, None, 0.0]
    assert [p.has_gold for p in pairs] == [True, True, False, False, False, True]
    assert (pairs[4].completion_a, pairs[4].completion_b) == ("good", "bad")  # A = chosen
    assert (pairs[5].key, pairs[5].prompt_id, pairs[5].a, pairs[5].b) == ("my-pair", "abc", 3, 1)
    assert pairs[0].key.startswith("pair-") and pairs[0].key != pairs[1].key  # order matters
    assert load_pairs(path)[0].key == pairs[0].key  # a content hash: stable
    assert Pair.from_json(pairs[5].to_json()) == pairs[5]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r":2: invalid JSON"),
        ({"prompt": "p", "completion_a": "x"}, r":2: missing completion_b"),
        ({"prompt": "p", "completion_a": "x", "chosen": "y"}, r":2: give completion_a.*not both"),
        ({"prompt": "p", "completion_a": "x", "completion_b": "y", "colour": 1},
         r":2: unknown field\(s\) colour"),
        ({"prompt": "p", "completion_a": "x", "completion_b": "y", "gold": 0.7},
         r":2: gold must be .*got 0.7"),
        ({"prompt": "p", "completion_a": "x", "completion_b": "x"}, r":2: .*are the same text"),
        ({"prompt": "", "completion_a": "x", "completion_b": "y"},
         r":2: prompt must be a non-empty string"),
        ({"prompt": "p", "chosen": "x", "rejected": "y", "chosen_score": 1},
         r":2: chosen_score needs its partner"),
        ({"prompt": "p", "chosen": "x", "rejected": "y", "chosen_score": "high",
          "rejected_score": 0}, r":2: chosen_score must be a finite number"),
        ({"prompt": "p", "completion_a": "x", "completion_b": "y", "id": "has space"},
         r":2: id must be"),
        ({"prompt": "p", "completion_a": "x", "completion_b": "y", "a": -1},
         r":2: a must be a completion index"),
        ({"prompt": "p0", "completion_a": "x", "completion_b": "y", "id": "k"},
         r":2: pair 'k' is also on line 1"),
    ],
)  # fmt: skip
def test_a_bad_pairs_line_fails_naming_file_and_line(
    tmp_path: Path, line: Any, message: str
) -> None:
    first = {"prompt": "p0", "completion_a": "a0", "completion_b": "b0", "id": "k"}
    path = _jsonl(tmp_path / "pairs.jsonl", [first, line])
    with pytest.raises(InputFileError, match=rf"pairs\.jsonl{message}"):
        load_pairs(path)


def test_an_empty_pairs_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no pairs"):
        load_pairs(_jsonl(tmp_path / "pairs.jsonl", []))


# --- the study config ---------------------------------------------------------------------


def _study(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "s", "pairs": "pairs.jsonl", "conditions": [{"name": "none"}]}
    data.update(overrides)
    return data


def test_pairwise_study_config_asks_which_completion_is_better() -> None:
    cfg = parse_study(_study())
    assert cfg.is_pairwise and cfg.task is None
    assert cfg.question == "Which completion is better?"
    assert (
        parse_study(_study(question="Which reply is kinder?")).question == "Which reply is kinder?"
    )
    statements = parse_study(
        {"name": "s", "task": {"name": "cities"}, "conditions": [{"name": "none"}]}
    )
    assert not statements.is_pairwise and statements.question == "Is this statement true?"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"task": {"name": "cities"}}, r"exactly one of task .* or pairs"),
        ({"pairs": None}, r"exactly one of task .* or pairs"),
        ({"attention": {"items": [{"text": "pick x", "answer": "a"}]}},
         r"attention\.items\.0: .*needs completion_a and completion_b"),
        ({"conditions": [{"name": "m", "kind": "model-answer", "path": "m.jsonl"}]},
         r"conditions\.0\.kind: .*pairwise study takes kind 'none' or 'file'"),
    ],
)  # fmt: skip
def test_pairwise_study_config_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_study(_study(**overrides))


def test_statement_attention_checks_take_no_completions() -> None:
    check = {"text": "answer true", "answer": True, "completion_a": "x", "completion_b": "y"}
    data = {"name": "s", "task": {"name": "cities"}, "conditions": [{"name": "none"}]}
    with pytest.raises(ConfigError, match=r"attention\.items\.0: .*pairwise studies only"):
        parse_study({**data, "attention": {"items": [check]}})


def test_pairwise_attention_answer_a_or_b() -> None:
    check = {"text": "pick the fruit", "completion_a": "pear", "completion_b": "rock"}
    for given, want in (("a", True), ("B", False), (True, True)):
        cfg = parse_study(_study(attention={"items": [{**check, "answer": given}]}))
        assert cfg.attention.items[0].answer is want


# --- drawing the items --------------------------------------------------------------------


def test_pair_items_draw_checks_from_pairs_with_gold(tmp_path: Path) -> None:
    cfg = load_study(write_pairs_study(tmp_path, gold={"n": 3, "pass_threshold": 0.5}))
    items = study_items(cfg)
    by_role: dict[str, list[Any]] = {}
    for it in items:
        by_role.setdefault(it.role, []).append(it)
    assert len(by_role["training"]) == 1 and len(by_role["main"]) == 10
    assert len(by_role["gold"]) == 3 + 6  # gold.n + a pool of 2 x n more
    assert len({it.key for it in items}) == len(items)  # disjoint
    for it in by_role["training"] + by_role["gold"]:
        assert it.pair["gold"] in (0.0, 1.0) and it.gold == (it.pair["gold"] == 1.0)
    [att] = by_role["attention"]
    assert att.pair["completion_b"] == "Pineapple" and att.gold is False  # B is instructed
    assert all(it.text.startswith(it.pair["prompt"]) for it in items)
    assert [it.key for it in study_items(cfg)] == [it.key for it in items]  # seeded


def test_pair_items_need_enough_gold(tmp_path: Path) -> None:
    path = write_pairs_study(tmp_path, n_pairs=6, n_items=2, gold={"n": 5})  # 5 have gold
    with pytest.raises(ConfigError, match=r"needs 6 pairs with a gold preference .* has 5"):
        study_items(load_study(path))
    path = write_pairs_study(tmp_path, n_pairs=6, n_items=5)
    with pytest.raises(ConfigError, match=r"needs 5 main pairs .* only 3 left"):
        study_items(load_study(path))


# --- shown order and the canonical answer ------------------------------------------------


def test_answer_maps_to_the_canonical_order() -> None:
    pair = {"prompt": "p", "completion_a": "A text", "completion_b": "B text"}
    assert shown_pair(pair, False) == {"prompt": "p", "first": "A text", "second": "B text"}
    assert shown_pair(pair, True) == {"prompt": "p", "first": "B text", "second": "A text"}
    # "A is better" whatever the position the rater saw A in
    assert canonical_answer("first", swapped=False) is True
    assert canonical_answer("second", swapped=False) is False
    assert canonical_answer("first", swapped=True) is False
    assert canonical_answer("second", swapped=True) is True


def test_shown_order_alternates_over_an_items_slots_and_varies_per_rater() -> None:
    for key in ("pair-1", "pair-2", "pair-3"):
        orders = [pair_swapped(0, key, slot, rater_id=slot + 7) for slot in range(6)]
        assert orders == [orders[0], not orders[0]] * 3  # each order 3 of 6 times
    per_rater = {pair_swapped(0, "gold-pair", None, r) for r in range(20)}
    assert per_rater == {True, False}
    assert pair_swapped(0, "k", None, 3) == pair_swapped(0, "k", None, 3)  # a reload: same


# --- aggregation --------------------------------------------------------------------------


PAIRS = [Pair("k1", "p", "x", "y", 1.0, "pid", 0, 1), Pair("k2", "p", "y", "z", None)]


def test_pair_preferences_are_p_a_over_raters() -> None:
    labels = [
        {"item_id": "k1", "rater_id": "r1", "answer": True, "confidence": 0.9},
        {"item_id": "k1", "rater_id": "r2", "answer": False, "confidence": 0.6},
        {"item_id": "k2", "rater_id": "r1", "answer": False, "confidence": 1.0},
        # left out: an excluded rater's label and a training label
        {"item_id": "k2", "rater_id": "r3", "answer": True, "excluded": True},
        {"item_id": "k2", "rater_id": "r4", "answer": True, "is_training": True},
    ]
    prefs = {p.key: p for p in pair_preferences(labels, PAIRS, "mean-confidence")}
    assert prefs["k1"].p_a == pytest.approx((0.9 + 0.4) / 2) and prefs["k1"].n_labels == 2
    assert prefs["k2"].p_a == pytest.approx(0.0) and prefs["k2"].n_labels == 1
    assert (prefs["k1"].prompt_id, prefs["k1"].a, prefs["k1"].b, prefs["k1"].gold) == (
        "pid",
        0,
        1,
        1.0,
    )
    votes = {p.key: p.p_a for p in pair_preferences(labels, PAIRS, "majority-vote")}
    assert votes == {"k1": 0.5, "k2": 0.0}


def test_pair_preferences_refuse_labels_of_other_items() -> None:
    labels = [{"item_id": "stranger", "rater_id": "r1", "answer": True}]
    with pytest.raises(ConfigError, match=r"1 labelled item\(s\) are not pairs .*stranger"):
        pair_preferences(labels, PAIRS)


def test_position_bias_counts_picks_of_the_first_shown() -> None:
    # answer is "A better"; A is shown first unless swapped: 8 of 10 picked the first shown
    rows = [{"answer": True, "swapped": False}] * 5 + [{"answer": False, "swapped": True}] * 3
    rows += [{"answer": False, "swapped": False}, {"answer": True, "swapped": True}]
    rows += [{"answer": True, "swapped": None}]  # a statement: left out
    bias = position_bias(pd.DataFrame(rows))
    assert bias.n == 10 and bias.first_share == pytest.approx(0.8)
    assert bias.ci[0] < 0.8 < bias.ci[1] and bias.p_value == pytest.approx(0.109375)
    with pytest.raises(ConfigError, match="answer and swapped"):
        position_bias(pd.DataFrame({"answer": [True]}))


@pytest.mark.parametrize("true_share", [0.5, 0.7, 0.9])
def test_position_bias_interval_covers_the_true_share(true_share: float) -> None:
    """Coverage: raters who pick the first-shown completion with a known probability, each
    pair shown in a random order; the 95% interval holds that probability at least about
    95% of the time (Clopper-Pearson is conservative: at or above the nominal level)."""
    rng = np.random.default_rng(7)
    n_sims, n_labels, covered = 400, 60, 0
    for _ in range(n_sims):
        swapped = rng.random(n_labels) < 0.5
        first = rng.random(n_labels) < true_share
        answer = first != swapped  # A is better exactly when the pick (first shown) is A
        bias = position_bias(pd.DataFrame({"answer": answer, "swapped": swapped}))
        covered += bias.ci[0] <= true_share <= bias.ci[1]
    assert 0.93 <= covered / n_sims <= 1.0


# --- through the app ---------------------------------------------------------------------


def _finish_pairs(lab: Any, token: str, pick: Any = better_shown) -> str:
    csrf = lab.start(token)
    for _ in range(50):
        cur = lab.current(token)
        if cur is None:
            return str(lab.client.get(f"/r/{token}").text)
        r = lab.answer_pair(token, csrf, cur[0], pick(cur[2]))
        assert r.status_code == 303, r.text
    raise AssertionError("rater never finished")


def test_pairwise_rater_flow_stores_labels_in_canonical_order(lab) -> None:
    study = lab.pair_study()
    token = lab.invite(study)[0]
    lab.start(token)
    page = lab.current(token)[2]
    assert "Which completion is better?" in page and 'id="pair-prompt"' in page
    assert 'value="first"' in page and 'value="second"' in page and 'id="item-text"' not in page
    done = _finish_pairs(lab, token)
    assert re.search(r'id="completion-code">PAIR-1234-[A-Z2-7]{10}<', done)
    labels = lab.labels()
    assert len(labels) == 1 + 2 + 4 + 1  # training, gold, main, attention
    with lab.Sessions() as s:
        pairs = dict(s.execute(select(Item.id, Item.pair)).all())
    for x in labels:  # the rater always picked the fruit: "A is better" iff A is the fruit
        assert x.answer == pairs[x.item_id]["completion_a"].startswith(("Banana", "Pineapple"))
        assert x.swapped is not None and x.confidence == 0.8
    assert {x.swapped for x in labels} == {True, False}  # both orders were shown


def test_the_shown_order_is_the_stored_one(lab) -> None:
    """A rater who always picks the completion shown first: "A is better" exactly
    when A was shown first (not swapped), so the stored order is what was shown."""
    token = lab.invite(lab.pair_study())[0]
    _finish_pairs(lab, token, pick=lambda page: "first")
    labels = lab.labels()
    assert all(x.answer is (not x.swapped) for x in labels)
    with lab.Sessions() as s:
        frame = labels_frame(s, get_study(s, "pair-study"))
    assert position_bias(frame).first_share == 1.0


def test_training_feedback_names_the_better_completion_as_shown(lab) -> None:
    token = lab.invite(lab.pair_study())[0]
    csrf = lab.start(token)
    aid, _, page = lab.current(token)
    good = better_shown(page)
    wrong = "second" if good == "first" else "first"
    loc = lab.answer_pair(token, csrf, aid, wrong).headers["location"]
    feedback = lab.client.get(loc).text
    n_good = 1 if good == "first" else 2
    assert "Not quite" in feedback
    assert f"You chose <strong>completion {3 - n_good}</strong>" in feedback
    assert f"the better one is <strong>completion {n_good}</strong>" in feedback


def test_pairwise_answers_outside_the_allowed_set_are_refused(lab) -> None:
    pair_token = lab.invite(lab.pair_study())[0]
    statement_token = lab.invite(lab.study())[0]
    csrf_p, csrf_s = lab.start(pair_token), lab.start(statement_token)
    aid_p, aid_s = lab.current(pair_token)[0], lab.current(statement_token)[0]
    r = lab.answer(pair_token, csrf_p, aid_p, True)  # "true" on a pair
    assert r.status_code == 422
    assert "answer must be 'first' or 'second', got 'true'" in html.unescape(r.text)
    r = lab.answer_pair(statement_token, csrf_s, aid_s, "first")  # "first" on a statement
    assert r.status_code == 422
    assert "answer must be 'true' or 'false', got 'first'" in html.unescape(r.text)
    r = lab.answer_pair(pair_token, csrf_p, aid_p, "maybe")
    assert r.status_code == 422
    assert "(a pairwise item: 'first' or 'second'), got 'maybe'" in html.unescape(r.text)
    r = lab.answer_pair(pair_token, csrf_p, aid_p, "first", confidence=40)
    assert r.status_code == 422 and "confidence must be between 50 and 100" in r.text
    assert lab.labels() == []


def test_a_rater_cannot_answer_another_raters_pair(lab) -> None:
    alice, bob = lab.invite(lab.pair_study(), 2)
    csrf_a = lab.start(alice)
    lab.start(bob)
    bob_item = lab.current(bob)[0]
    r = lab.answer_pair(alice, csrf_a, bob_item, "first")
    assert r.headers["x-sandwich-label"] == "gone" and lab.labels() == []
    csrf_b = lab.csrf(bob)
    assert lab.answer_pair(bob, csrf_b, bob_item, "first").headers["x-sandwich-label"] == "saved"
    again = lab.answer_pair(bob, csrf_b, bob_item, "second")  # a second submit
    assert again.headers["x-sandwich-label"] == "duplicate" and len(lab.labels()) == 1


def test_a_wrong_attention_pick_excludes_the_rater(lab) -> None:
    token = lab.invite(lab.pair_study())[0]

    def pick(page: str) -> str:  # right on every pair, wrong on the attention check
        right = better_shown(page)
        if "Pineapple" in page:
            return "second" if right == "first" else "first"
        return right

    done = _finish_pairs(lab, token, pick)
    assert "PAIR-1234" not in done
    with lab.Sessions() as s:
        frame = labels_frame(s, get_study(s, "pair-study"))
    assert frame["excluded"].all()


def test_study_pair_preferences_from_the_database_and_an_export(lab, tmp_path: Path) -> None:
    study = lab.pair_study()
    for token in lab.invite(study, 3):
        _finish_pairs(lab, token)  # every rater picks the fruit
    prefs = study_pair_preferences(lab.url, study, method="mean-confidence")
    with lab.Sessions() as s:
        pair_of = dict(s.execute(select(Item.key, Item.pair)).all())
    assert prefs and all(p.key in pair_of for p in prefs)
    for p in prefs:  # P(A preferred) = 0.8 when A is the fruit, 0.2 when B is
        fruit_a = p.completion_a.startswith("Banana")
        assert p.p_a == pytest.approx(0.8 if fruit_a else 0.2) and p.n_labels >= 1
        assert p.gold == pair_of[p.key]["gold"]
    assert "attention-0" not in {p.key for p in prefs}  # attention checks do not count
    # the same from the exported CSV and the pairs file
    with lab.Sessions() as s:
        export_labels(s, get_study(s, study), tmp_path / "labels.csv")
    exported = pd.read_csv(tmp_path / "labels.csv", dtype=str, keep_default_na=False)
    assert set(exported["swapped"]) == {"True", "False"}
    pairs = load_pairs(lab.root / "pair-study" / "pairs.jsonl")
    again = pair_preferences(exported.replace({"": None}), pairs, "mean-confidence")
    assert {p.key: round(p.p_a, 6) for p in again} == {p.key: round(p.p_a, 6) for p in prefs}
    assert position_bias(exported).n == len(exported) == 3 * 7  # training is not exported


def test_pair_study_preferences_refuse_a_statement_study(lab) -> None:
    study = lab.study()
    with pytest.raises(ConfigError, match="not a pairwise study"):
        study_pair_preferences(lab.url, study)


def test_chosen_rejected_files_make_a_study(tmp_path: Path) -> None:
    rows = [
        {"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}",
         "chosen_score": 1.0, "rejected_score": 0.0 if i % 3 else 1.0}
        for i in range(12)
    ]  # fmt: skip
    _jsonl(tmp_path / "prefs.jsonl", rows)
    data = _study(pairs="prefs.jsonl", n_items=4, gold={"n": 2}, training={"n": 1})
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    items = study_items(load_study(tmp_path / "s.yaml"))
    checks = [it for it in items if it.role in ("gold", "training")]
    assert checks and all(it.pair["gold"] == 1.0 and it.gold for it in checks)  # never a tie
    assert len([it for it in items if it.role == "main"]) == 4


def test_write_pairs_helper_matches_its_docstring(tmp_path: Path) -> None:
    rows = write_pairs_file(tmp_path / "p.jsonl", 5)
    assert rows[0]["completion_a"].startswith("Banana") and rows[0]["gold"] == "a"
    assert rows[1]["completion_b"].startswith("Banana") and rows[1]["gold"] == "b"
    assert "gold" not in rows[4]


def test_dashboard_and_csv_of_a_pairwise_study(lab, researcher) -> None:
    study = lab.pair_study()
    for token in lab.invite(study, 2):
        _finish_pairs(lab, token)
    page = researcher.get(f"/dashboard/{study}")
    assert page.status_code == 200 and "Question" in page.text and "[A] " in page.text
    csv = researcher.get(f"/dashboard/{study}/labels.csv")
    assert csv.status_code == 200 and "swapped" in csv.text.splitlines()[0]


def test_simulated_raters_refuse_a_pairwise_study(lab, capsys) -> None:
    from sandwich.cli import main

    study = lab.pair_study()
    assert main(["study", "simulate", study, "--db", lab.url, "--raters", "1"]) == 2
    assert "pairwise: simulated raters answer statements only" in capsys.readouterr().err


# --- from preference data and back -------------------------------------------------------


def _prompt(pid: str, *texts: str) -> SimpleNamespace:
    return SimpleNamespace(
        id=pid, prompt=f"prompt {pid}", completions=[SimpleNamespace(text=t) for t in texts]
    )


def test_comparisons_become_pairs_and_their_preferences_map_back(tmp_path: Path) -> None:
    prompts = [_prompt("p1", "x", "y", "z"), _prompt("p2", "u", "v", "u")]
    comps = [
        SimpleNamespace(prompt_id="p1", a=0, b=2, gold=1.0),
        SimpleNamespace(prompt_id="p2", a=1, b=0, gold=0.5),
    ]
    same = SimpleNamespace(prompt_id="p2", a=0, b=2, gold=0.5)  # "u" vs "u": nothing to choose
    pairs = pairs_from_comparisons(prompts, [*comps, same])
    assert len({p.key for p in pairs}) == len(pairs) == 2
    assert [(p.completion_a, p.completion_b, p.gold) for p in pairs] == [
        ("x", "z", 1.0), ("v", "u", 0.5)
    ]  # fmt: skip
    assert load_pairs(write_pairs(pairs, tmp_path / "pairs.jsonl")) == pairs  # round trip
    labels = [
        {"item_id": pairs[0].key, "rater_id": "r1", "answer": True, "confidence": 0.9},
        {"item_id": pairs[1].key, "rater_id": "r1", "answer": False, "confidence": 0.7},
    ]
    prefs = pair_preferences(labels, pairs, "mean-confidence")
    p = comparison_preferences(comps, prefs)
    assert p == pytest.approx([0.9, 0.3])
    # the same comparison asked the other way round: 1 - P
    flipped = [SimpleNamespace(prompt_id="p1", a=2, b=0, gold=0.0)]
    assert comparison_preferences(flipped, prefs) == pytest.approx([0.1])
    with pytest.raises(
        ConfigError, match=r"1 comparison\(s\) have no human preference, e.g. p1:1-2"
    ):
        comparison_preferences([SimpleNamespace(prompt_id="p1", a=1, b=2)], prefs)
    assert comparison_preferences(
        [SimpleNamespace(prompt_id="p1", a=1, b=2)], prefs, missing=0.5
    ) == pytest.approx([0.5])
    with pytest.raises(ConfigError, match="no such prompt"):
        pairs_from_comparisons(prompts, [SimpleNamespace(prompt_id="p9", a=0, b=1, gold=None)])


@pytest.mark.integration
def test_pairwise_study_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """Migration 0006 and the JSON pair column on PostgreSQL: a rater finishes a
    pairwise study and the preferences read back from the database."""
    from .conftest import Lab  # type: ignore[import-not-found]

    lab = Lab(tmp_path, postgres_url)
    try:
        study = lab.pair_study()
        _finish_pairs(lab, lab.invite(study)[0])
        assert all(x.swapped is not None for x in lab.labels())
        statements = lab.study()
        with lab.Sessions() as s:  # a statement study's items keep a SQL NULL pair
            sid = get_study(s, statements).id
            n_items = s.scalar(select(func.count()).where(Item.study_id == sid))
            n_null = s.scalar(
                select(func.count()).where(Item.study_id == sid, text("items.pair IS NULL"))
            )
        assert n_items and n_null == n_items
        prefs = study_pair_preferences(postgres_url, study, method="mean-confidence")
        assert {round(p.p_a, 6) for p in prefs} <= {0.8, 0.2}
    finally:
        lab.client.close()
        lab.engine.dispose()
