"""The response cache: what is stored, what is not, corruption, explain."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from sandwich.models.generation import (
    CachedGenerator,
    ChoiceRequest,
    FakeGenerator,
    GenRequest,
    Message,
    ResponseCache,
    default_cache_path,
)


def _req(text: str = "q", **kw: object) -> GenRequest:
    return GenRequest((Message("system", "be brief"), Message("user", text)), **kw)  # type: ignore[arg-type]


@pytest.fixture
def cache(tmp_path: Path) -> ResponseCache:
    return ResponseCache(tmp_path / "gen.sqlite")


def test_default_path_is_under_sandwich_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDWICH_HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / "generation.sqlite"
    assert ResponseCache().path == tmp_path / "home" / "generation.sqlite"


def test_greedy_requests_hit_the_second_time(cache: ResponseCache) -> None:
    fake = FakeGenerator()
    gen = CachedGenerator(fake, cache)
    reqs = [_req("a", logprobs=True), _req("b")]
    first = gen.generate(reqs)
    second = gen.generate(reqs)
    assert len(fake.calls) == 2  # the second batch never reached the backend
    assert [r.cached for r in first] == [False, False]
    assert [r.cached for r in second] == [True, True]
    for a, b in zip(first, second, strict=True):
        assert (a.text, a.token_logprobs, a.finish_reason) == (
            b.text,
            b.token_logprobs,
            b.finish_reason,
        )
        assert a.meta["cache_key"] == b.meta["cache_key"] is not None


def test_every_parameter_is_part_of_the_key(cache: ResponseCache) -> None:
    fake = FakeGenerator()
    gen = CachedGenerator(fake, cache)
    base = _req("q")
    variants = [
        base,
        _req("q2"),
        GenRequest((Message("user", "q"),)),  # messages differ (no system message)
        GenRequest((Message("system", "be brief"), Message("assistant", "q"))),  # role
        _req("q", max_new_tokens=5),
        _req("q", temperature=0.5, seed=1),
        _req("q", temperature=0.5, seed=2),
        _req("q", top_p=0.9),
        _req("q", seed=3),
        _req("q", stop=("\n",)),
        _req("q", logprobs=True),
    ]
    keys = {gen.key(v) for v in variants}
    assert len(keys) == len(variants)
    other = CachedGenerator(FakeGenerator(model="other"), cache)
    assert other.key(base) not in keys  # the backend's describe() is in the key


def test_sampled_without_seed_is_never_cached(cache: ResponseCache) -> None:
    fake = FakeGenerator()
    gen = CachedGenerator(fake, cache)
    req = _req("q", temperature=0.8)
    a, b = gen.generate([req]), gen.generate([req])
    assert len(fake.calls) == 2 and len(cache) == 0
    assert a[0].meta["cache_key"] is None and not b[0].cached
    assert "without a seed" in str(gen.explain_miss(req))
    seeded = _req("q", temperature=0.8, seed=7)
    gen.generate([seeded])
    assert gen.generate([seeded])[0].cached and len(cache) == 1


def test_errors_are_never_cached(cache: ResponseCache) -> None:
    fake = FakeGenerator(fail_on=("boom",))
    gen = CachedGenerator(fake, cache)
    res = gen.generate([_req("boom"), _req("fine")])
    assert res[0].error is not None and res[1].error is None
    assert len(cache) == 1
    gen.generate([_req("boom")])
    assert len(fake.calls) == 3  # the failed request went to the backend again


def test_duplicates_in_a_batch_reach_the_backend_once(cache: ResponseCache) -> None:
    fake = FakeGenerator()
    gen = CachedGenerator(fake, cache)
    res = gen.generate([_req("x"), _req("y"), _req("x")])
    assert len(fake.calls) == 2
    assert res[0].text == res[2].text != res[1].text


def test_choice_scores_are_cached(cache: ResponseCache) -> None:
    fake = FakeGenerator()
    gen = CachedGenerator(fake, cache)
    req = ChoiceRequest((Message("user", "A A B"),), ("A", "B"))
    first = gen.score_choices([req])
    assert gen.score_choices([req]) == first
    assert len(fake.calls) == 1
    assert first[0] is not None and first[0]["A"] > first[0]["B"]
    cannot = CachedGenerator(FakeGenerator(model="blind", can_score=False), cache)
    assert cannot.score_choices([req]) == [None]
    assert cannot.score_choices([req]) == [None]
    assert len(cache) == 1  # "cannot score" is not stored


def test_cache_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "gen.sqlite"
    CachedGenerator(FakeGenerator(), ResponseCache(path)).generate([_req("z")])
    fake = FakeGenerator()
    assert CachedGenerator(fake, ResponseCache(path)).generate([_req("z")])[0].cached
    assert fake.calls == []


def test_corrupt_file_is_moved_aside_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gen.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING):
        cache = ResponseCache(path)
    assert cache.recovered_from is not None and cache.recovered_from.exists()
    assert cache.recovered_from.read_bytes().startswith(b"this is not")
    assert "corrupt" in caplog.text and str(cache.recovered_from) in caplog.text
    gen = CachedGenerator(FakeGenerator(), cache)
    gen.generate([_req()])
    assert gen.generate([_req()])[0].cached
    assert cache.stats().corrupt_files == [cache.recovered_from]


def test_damaged_pages_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "gen.sqlite"
    cache = ResponseCache(path)
    CachedGenerator(FakeGenerator(), cache).generate([_req(str(i) * 400) for i in range(200)])
    cache.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * 4096
    data[3 * 4096 : 6 * 4096] = b"\xff" * (3 * 4096)  # scribble over b-tree pages
    path.write_bytes(bytes(data))
    again = ResponseCache(path)
    assert again.recovered_from is not None
    assert len(again) == 0


def test_foreign_schema_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "gen.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE responses (key TEXT, value TEXT)")
    con.commit()
    con.close()
    cache = ResponseCache(path)
    assert cache.recovered_from is not None
    assert len(cache) == 0


def test_a_tampered_row_is_dropped_and_recomputed(cache: ResponseCache) -> None:
    fake = FakeGenerator()
    gen = CachedGenerator(fake, cache)
    first = gen.generate([_req("t")])[0]
    con = sqlite3.connect(cache.path)
    con.execute("UPDATE responses SET result = replace(result, 'fake', 'FAKE')")
    con.commit()
    con.close()
    again = gen.generate([_req("t")])[0]
    assert not again.cached and again.text == first.text  # recomputed, not the tampered text
    assert cache.bad_rows == 1
    assert gen.generate([_req("t")])[0].cached


def test_explain_names_the_fields_that_differ(cache: ResponseCache) -> None:
    gen = CachedGenerator(FakeGenerator(), cache)
    empty = gen.explain_miss(_req("q"))
    assert not empty.hit and empty.nearest_key is None
    gen.generate([_req("q", max_new_tokens=64), _req("something else entirely", seed=9)])
    hit = gen.explain_miss(_req("q", max_new_tokens=64))
    assert hit.hit and "hit" in str(hit)
    miss = gen.explain_miss(_req("q", max_new_tokens=32))
    assert not miss.hit
    assert [d.path for d in miss.diffs] == ["request.max_new_tokens"]
    assert (miss.diffs[0].stored, miss.diffs[0].requested) == ("64", "32")
    assert "request.max_new_tokens: stored 64, requested 32" in str(miss)
    other = CachedGenerator(FakeGenerator(model="other"), cache).explain_miss(
        _req("q", max_new_tokens=64)
    )
    assert [d.path for d in other.diffs] == ["backend.model"]


def test_stats_and_clear(cache: ResponseCache) -> None:
    CachedGenerator(FakeGenerator(model="m1"), cache).generate([_req("a"), _req("b")])
    g2 = CachedGenerator(FakeGenerator(model="m2"), cache)
    g2.generate([_req("a")])
    g2.score_choices([ChoiceRequest((Message("user", "x"),), ("A", "B"))])
    st = cache.stats()
    assert st.entries == 4 and st.size_bytes > 0
    assert st.by_model == [
        ("fake", "m1", "generate", 2),
        ("fake", "m2", "choices", 1),
        ("fake", "m2", "generate", 1),
    ]
    assert cache.clear(model="m1") == 2
    assert len(cache) == 2
    assert cache.clear() == 2 and len(cache) == 0


def test_threads_share_one_cache(cache: ResponseCache) -> None:
    gen = CachedGenerator(FakeGenerator(), cache)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(20):
                gen.generate([_req(f"{k}-{i}"), _req(f"shared-{i}")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 4 * 20 + 20
