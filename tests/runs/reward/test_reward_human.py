"""The ``human:`` supervisor end to end on a real study database.

Preference data (sums, three answers each, gold = minus the error) -> its
comparisons -> ``pairs_from_comparisons`` -> ``write_pairs`` -> a pairwise
study in SQLite -> raters answer through the app (FastAPI's TestClient; two
pick the gold-better answer, one the worse; both display orders occur) ->
``HumanPreferences(db, study).prefs(questions)``: each comparison's P(a
preferred) in its own a/b order, checked against what the raters picked.
Also: the pairs of a reward config (``sandwich study pairs``), B's and T's only.
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from sandwich.errors import ConfigError
from sandwich.feedback.pairs import load_pairs, pairs_from_comparisons, write_pairs
from sandwich.feedback.store.db import Assignment, Item, Label, session_factory
from sandwich.feedback.store.migrate import migrate
from sandwich.feedback.store.studies import create_study, invite
from sandwich.feedback.study_config import load_study
from sandwich.feedback.web.app import create_app
from sandwich.rewards.data import Comparison, Completion, PreferenceSet, RewardPrompt, prompt_id
from sandwich.rewards.supervisors import HumanPreferences, PrefQuestions, build_pref_supervisor
from sandwich.runs.reward.schema import PrefSupervisor

SUMS = {  # the sum asked, then the answers the policy gave
    (2, 3): ("5", "6", "9"),
    (4, 4): ("8", "7", "1"),
    (1, 6): ("7", "7", "2"),  # the same answer twice: nothing for a rater to choose
    (9, 0): ("9", "10", "0"),
    (5, 5): ("10", "9", "11"),  # 9 and 11 tie under gold
}
QUESTION = re.compile(r"What is (\d+) \+ (\d+)\?")


def preference_set() -> PreferenceSet:
    prompts = []
    for (x, y), answers in SUMS.items():
        text = f"What is {x} + {y}?"
        comps = tuple(Completion(a, -abs(int(a) - (x + y))) for a in answers)
        prompts.append(RewardPrompt(prompt_id(text), text, comps, group=text))
    return PreferenceSet(prompts, "sums")


def gold_of(prompt: str, answer: str) -> int:
    x, y = (int(v) for v in QUESTION.findall(prompt)[0])
    return -abs(int(answer) - (x + y))


class Raters:
    """A study database with the app on it; raters answer every pair they are shown."""

    def __init__(self, root: Path) -> None:
        self.url = f"sqlite:///{root / 'studies.sqlite'}"
        self.engine = migrate(self.url)
        self.Sessions = session_factory(self.engine)
        self.client = TestClient(create_app(self.url))
        # the comparison (prompt_id, a, b) a pair came from -> the texts the raters picked
        self.picked: dict[tuple[str, int, int], list[str]] = defaultdict(list)

    def create(self, study_yaml: Path) -> str:
        with self.Sessions.begin() as s:
            return create_study(s, load_study(study_yaml)).name

    def invite(self, study: str, n: int) -> list[str]:
        with self.Sessions.begin() as s:
            return [token for _, token in invite(s, study, n)]

    def _csrf(self, page: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    def finish(self, token: str, honest: bool) -> int:
        """Answer every pair: ``honest`` picks the gold-better answer (on a tie the one
        shown first), else the worse (on a tie the one shown second). Returns the count."""
        csrf = self._csrf(self.client.get(f"/r/{token}").text)
        r = self.client.post(f"/r/{token}/start", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303
        for n in range(100):
            page = self.client.get(f"/r/{token}").text
            aid = re.search(r'name="assignment_id" value="([^"]+)"', page)
            if aid is None:
                return n
            prompt, first, second = (
                html.unescape(re.search(rf'id="{i}"[^>]*>(.*?)</', page, re.S).group(1))  # type: ignore[union-attr]
                for i in ("pair-prompt", "completion-1-text", "completion-2-text")
            )
            g1, g2 = gold_of(prompt, first), gold_of(prompt, second)
            choice = "first" if (g1 >= g2 if honest else g1 < g2) else "second"
            self.picked[self._comparison(aid.group(1))].append(
                first if choice == "first" else second
            )
            form = {"csrf": csrf, "assignment_id": aid.group(1), "answer": choice,
                    "confidence": "80"}  # fmt: skip
            r = self.client.post(f"/r/{token}/answer", data=form, follow_redirects=False)
            assert r.status_code == 303, r.text
        raise AssertionError("rater never finished")

    def _comparison(self, assignment: str) -> tuple[str, int, int]:
        """(prompt_id, a, b) of the pair the app showed for ``assignment`` (two pairs of
        one prompt may show the same texts: "7" vs "2" twice)."""
        with self.Sessions() as s:
            pair = s.scalar(
                select(Item.pair).join(Assignment, Assignment.item_id == Item.id)
                .where(Assignment.key == assignment)
            )  # fmt: skip
        assert pair is not None
        return pair["prompt_id"], pair["a"], pair["b"]

    def close(self) -> None:
        self.client.close()
        self.engine.dispose()


def write_study(root: Path, pairs_file: Path, n_items: int, overlap: int) -> Path:
    """A pairwise study asking every pair (no gold or training items drawn from them)."""
    study = {
        "name": "sums-prefs",
        "pairs": pairs_file.name,
        "n_items": n_items,
        "conditions": [{"name": "unassisted", "kind": "none"}],
        "overlap": overlap,
        "items_per_rater": n_items,
        "gold": {"n": 0},
        "training": {"n": 0},
        "completion_code": "SUMS-1234",
    }
    path = root / "sums-prefs.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


@pytest.fixture
def raters(tmp_path: Path) -> Any:
    lab = Raters(tmp_path)
    yield lab
    lab.close()


def test_human_supervisor_reads_a_real_pairwise_study(tmp_path: Path, raters: Raters) -> None:
    prefs = preference_set()
    comps = prefs.comparisons(per_prompt=None, seed=0)  # every pair, in a random a/b order
    assert len(comps) == 15 and any(c.a > c.b for c in comps)
    by_id = {p.id: p for p in prefs.prompts}
    pairs = pairs_from_comparisons(prefs.prompts, comps)
    assert len(pairs) == 14  # the "7" vs "7" comparison is left out
    pairs_file = write_pairs(pairs, tmp_path / "pairs.jsonl")
    assert load_pairs(pairs_file) == pairs
    study = raters.create(write_study(tmp_path, pairs_file, n_items=14, overlap=3))

    honest, dishonest, honest_too = raters.invite(study, 3)
    assert [raters.finish(t, h) for t, h in
            ((honest, True), (dishonest, False), (honest_too, True))] == [14, 14, 14]  # fmt: skip
    with raters.Sessions() as s:
        swapped = list(s.scalars(select(Label.swapped)).all())
    assert len(swapped) == 3 * 14 and set(swapped) == {True, False}  # both orders shown

    judged = [c for c in comps if _texts(by_id, c)[0] != _texts(by_id, c)[1]]
    q = PrefQuestions.build(judged, by_id)  # gold hidden, as a run builds them
    sup = HumanPreferences(raters.url, study, method="mean-confidence")
    p = sup.prefs(q, seed=0)
    # what the raters picked: each label says 0.8 for the pick, so P(a) = mean of 0.8 / 0.2
    expected = []
    for c in judged:
        text_a = _texts(by_id, c)[0]
        picks = raters.picked[(c.prompt_id, c.a, c.b)]
        assert len(picks) == 3
        expected.append(np.mean([0.8 if t == text_a else 0.2 for t in picks]))
    assert p == pytest.approx(expected)
    gold = np.array([c.gold for c in judged])
    decided = gold != 0.5  # two honest raters of three: the gold-better side gets 0.6
    assert np.allclose(p[decided], np.where(gold[decided] == 1.0, 0.6, 0.4))
    assert (~decided).sum() == 1  # the "9" vs "11" tie: its picks follow the order shown

    # the same comparisons asked the other way round: 1 - P, in their own order
    flipped = [Comparison(c.prompt_id, c.b, c.a, 1.0 - c.gold) for c in judged]
    p_flip = sup.prefs(PrefQuestions.build(flipped, by_id), seed=0)
    assert p_flip == pytest.approx(1.0 - p)

    # majority vote through the config, as a run builds it: the share of votes for a,
    # two of three on the gold side of every decided pair
    cfg = PrefSupervisor.model_validate(
        {"name": "human", "study": study, "params": {"db": raters.url, "method": "majority-vote"}}
    )
    votes = build_pref_supervisor(cfg).prefs(q, seed=0)
    assert np.allclose(votes[decided], np.where(gold[decided] == 1.0, 2 / 3, 1 / 3))

    # the comparison of two identical answers: an error naming it, unless missing= is given
    same = [c for c in comps if _texts(by_id, c)[0] == _texts(by_id, c)[1]]
    assert len(same) == 1
    with pytest.raises(ConfigError, match=rf"no human preference, e.g. {same[0].prompt_id}:"):
        sup.prefs(PrefQuestions.build(same, by_id), seed=0)
    lenient = HumanPreferences(raters.url, study, method="mean-confidence", missing=0.5)
    assert lenient.prefs(PrefQuestions.build([*same, judged[0]], by_id), 0) == pytest.approx(
        [0.5, p[0]]
    )


def _texts(by_id: dict[str, RewardPrompt], c: Comparison) -> tuple[str, str]:
    completions = by_id[c.prompt_id].completions
    return completions[c.a].text, completions[c.b].text


def test_human_supervisor_names_a_study_that_is_not_there(tmp_path: Path, raters: Raters) -> None:
    prefs = preference_set()
    q = PrefQuestions.build(prefs.comparisons(1, 0), {p.id: p for p in prefs.prompts})
    with pytest.raises(Exception, match="no-such-study"):
        HumanPreferences(raters.url, "no-such-study").prefs(q, seed=0)


# --- the pairs of a reward config ------------------------------------------------------------


def reward_config(tmp_path: Path) -> Path:
    """A reward config over a preference file (its own two completions per prompt)."""
    rows = [
        {"prompt": f"What is {i} + {i}?", "chosen": str(2 * i), "rejected": str(2 * i + 1),
         "group": f"g{i}"}
        for i in range(40)
    ]  # fmt: skip
    (tmp_path / "prefs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {
        "name": "rw-human",
        "seeds": [3],
        "reward": {
            "task": {"path": str(tmp_path / "prefs.jsonl")},
            "policy": {"backend": "fake", "model": "unused"},
            "strong": ["fake-strong"],
            "supervisors": [
                {"name": "human", "study": "sums-prefs", "params": {"db": "sqlite:///x.sqlite"}}
            ],
        },
    }
    path = tmp_path / "rw.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_study_pairs_are_the_runs_comparisons_with_gold_on_a_only(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    from sandwich.cli import main
    from sandwich.runs import load_config
    from sandwich.runs.context import RunContext
    from sandwich.runs.reward.cell import RewardData
    from sandwich.runs.reward.pairs import study_pairs
    from sandwich.store import ArtifactStore

    monkeypatch.setenv("SANDWICH_HOME", str(tmp_path / "home"))
    path = reward_config(tmp_path)
    cfg = load_config(path)
    store = ArtifactStore(tmp_path / "store")
    pairs = study_pairs(cfg, store=store)
    ctx = RunContext(cfg, store, progress=False)
    data = RewardData.build(ctx, cfg.section("reward").task, cfg.section("reward").policy, 3)
    every = {(c.prompt_id, c.a, c.b) for s in data.comparisons for c in data.comparisons[s]}
    assert {(p.prompt_id, p.a, p.b) for p in pairs} == every and len(pairs) == len(every)
    a_ids = {p.id for p in data.parts["train_weak"].prompts}
    assert a_ids and a_ids <= {p.prompt_id for p in pairs}
    # only A's pairs show gold (the study's checks and training items); B's and T's none
    assert all(p.gold in (0.0, 1.0) for p in pairs if p.prompt_id in a_ids)
    assert all(p.gold is None for p in pairs if p.prompt_id not in a_ids)
    assert any(p.gold is None for p in pairs)

    out = tmp_path / "pairs.jsonl"
    assert main(["study", "pairs", str(path), "--out", str(out)]) == 0
    assert f"wrote {len(pairs)} pairs" in capsys.readouterr().out
    assert load_pairs(out) == pairs
    with pytest.raises(ConfigError, match=r"splits: unknown \['B'\]"):
        study_pairs(cfg, store=store, splits=["B"])


def test_study_pairs_of_a_sampled_task_come_from_the_runs_stored_samples(tmp_path: Path) -> None:
    """A built-in task: the policy's samples (of the comparisons and of best-of-n) are made
    once and stored under the run's keys; a second call and the run read them, so the
    study asks about what the run compares; B's and T's pairs never carry gold."""
    from sandwich.runs.reward.pairs import study_pairs
    from sandwich.store import ArtifactStore

    from .test_reward_kind import ArithPolicy, config, run_once

    cfg = config(supervisors=["gold"])
    store = ArtifactStore(tmp_path / "store")
    policy = ArithPolicy()
    pairs = study_pairs(cfg, store=store, generators={"arith-policy": policy})
    assert policy.calls > 0 and pairs
    assert all(QUESTION.search(p.prompt) and p.gold in (None, 0.0, 0.5, 1.0) for p in pairs)
    b_and_t = study_pairs(cfg, store=store, splits=["train_strong", "test"])
    assert b_and_t and all(p.gold is None for p in b_and_t)  # never B's or T's gold

    class NoSampling(ArithPolicy):
        def generate(self, requests: Any) -> Any:
            raise AssertionError("the stored samples should have been read")

    again = study_pairs(cfg, store=store, generators={"arith-policy": NoSampling()})
    assert again == pairs
    b_prompts = {p.prompt for p in study_pairs(cfg, store=store, splits=["train_strong"])}
    assert b_prompts and b_prompts < {p.prompt for p in pairs}

    ran = ArithPolicy()
    out = run_once(cfg, tmp_path, ran)
    assert ran.calls == 0  # the run compares the very samples the study asks about
    assert out.results.cells_of("reward")
