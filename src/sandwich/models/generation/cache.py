"""The response cache: one SQLite file (WAL) of backend responses keyed on content.

Rows: ``key`` (see :mod:`.keys`), the key's JSON fields (for ``explain``), the
result JSON and its sha256 (checked on every read). Errors and sampled requests
without a seed are never stored (:class:`~.cached.CachedGenerator` decides).

Faults: a file that is not a database, fails ``PRAGMA quick_check`` or has a
foreign schema is moved aside to ``<name>.corrupt-<time>`` (logged, and kept in
``recovered_from``) and a fresh cache is built in its place; a row whose result
does not match its checksum is deleted, counted in ``bad_rows`` and reported as
a miss. Safe for several threads (one lock) and processes (WAL + busy timeout;
a file lock around open/recovery).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from sandwich.models.generation.keys import flatten
from sandwich.store import default_home
from sandwich.store.hashing import canonical_json, digest

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CACHE_FILE = "generation.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    fields TEXT NOT NULL,
    result TEXT NOT NULL,
    checksum TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_model ON responses (backend, model, kind);
"""
_COLUMNS = ["key", "kind", "backend", "model", "fields", "result", "checksum", "created"]


def default_cache_path() -> Path:
    """``$SANDWICH_HOME/generation.sqlite``."""
    return default_home() / CACHE_FILE


class CorruptCache(Exception):
    """The cache file cannot be used as it is."""


@dataclass(frozen=True)
class Entry:
    key: str
    fields: dict[str, Any]
    result: Any


@dataclass
class CacheStats:
    path: Path
    size_bytes: int
    entries: int
    by_model: list[tuple[str, str, str, int]]  # backend, model, kind, count
    corrupt_files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class FieldDiff:
    path: str
    stored: str | None
    requested: str | None


@dataclass(frozen=True)
class MissExplanation:
    """Why a request is (or is not) in the cache, and the nearest stored entry."""

    key: str
    hit: bool
    uncacheable: str | None = None
    nearest_key: str | None = None
    diffs: tuple[FieldDiff, ...] = ()
    compared: int = 0

    def __str__(self) -> str:
        if self.uncacheable:
            return f"not cacheable: {self.uncacheable}"
        if self.hit:
            return f"hit: key {self.key[:16]} is in the cache"
        if self.nearest_key is None:
            return f"miss: key {self.key[:16]}; the cache holds no entry of this kind to compare"
        lines = [
            f"miss: key {self.key[:16]}; nearest stored entry {self.nearest_key[:16]} "
            f"(of {self.compared} compared) differs in {len(self.diffs)} field(s):"
        ]
        for d in self.diffs:
            lines.append(f"  {d.path}: stored {_short(d.stored)}, requested {_short(d.requested)}")
        return "\n".join(lines)


def _short(value: str | None, n: int = 80) -> str:
    if value is None:
        return "(absent)"
    return value if len(value) <= n else value[: n - 3] + "..."


class ResponseCache:
    """A SQLite-backed map key -> result, with integrity checks and miss explanations."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.recovered_from: Path | None = None
        self.bad_rows = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock"):
            try:
                self._conn = self._open()
            except (CorruptCache, sqlite3.DatabaseError) as exc:
                self.recovered_from = self._move_aside(exc)
                self._conn = self._open()

    # -- opening and recovery ------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        try:
            row = conn.execute("PRAGMA quick_check").fetchone()
            if not row or row[0] != "ok":
                raise CorruptCache(f"PRAGMA quick_check says {row[0] if row else None!r}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            cols = [r[1] for r in conn.execute("PRAGMA table_info(responses)")]
            if cols != _COLUMNS:
                raise CorruptCache(f"table responses has columns {cols}, expected {_COLUMNS}")
            got = conn.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
            if got is None:
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                conn.commit()
            elif got[0] != str(SCHEMA_VERSION):
                raise CorruptCache(f"schema version {got[0]}, expected {SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self, exc: BaseException) -> Path:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        n = 0
        while aside.exists():
            n += 1
            aside = aside.with_name(f"{aside.name.split('~')[0]}~{n}")
        self.path.rename(aside)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.rename(aside.with_name(aside.name + suffix))
        log.warning(
            "response cache %s is corrupt (%s); moved it to %s and started a new one",
            self.path,
            exc,
            aside,
        )
        return aside

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- reads and writes ----------------------------------------------------
    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The stored results of those keys that are present and intact."""
        wanted = sorted(set(keys))
        found: dict[str, Any] = {}
        bad: list[str] = []
        with self._db() as db:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT key, result, checksum FROM responses WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, result, checksum in rows:
                    try:
                        if digest(result) != checksum:
                            raise ValueError("checksum mismatch")
                        found[key] = json.loads(result)
                    except ValueError:
                        bad.append(key)
            if bad:
                db.executemany("DELETE FROM responses WHERE key=?", [(k,) for k in bad])
                db.commit()
        if bad:
            self.bad_rows += len(bad)
            log.warning("response cache %s: %d corrupt row(s) dropped", self.path, len(bad))
        return found

    def put_many(self, entries: Iterable[Entry]) -> int:
        rows = []
        now = time.time()
        for e in entries:
            result = canonical_json(e.result)
            backend = e.fields.get("backend", {})
            rows.append(
                (
                    e.key,
                    e.fields.get("request", {}).get("kind", "?"),
                    str(backend.get("backend", "?")),
                    str(backend.get("model", "?")),
                    canonical_json(e.fields),
                    result,
                    digest(result),
                    now,
                )
            )
        if rows:
            with self._db() as db:
                db.executemany(
                    f"INSERT OR REPLACE INTO responses VALUES ({','.join('?' * 8)})", rows
                )
                db.commit()
        return len(rows)

    # -- inspection ----------------------------------------------------------
    def explain(self, key: str, fields: dict[str, Any], limit: int = 5000) -> MissExplanation:
        """Hit, or the nearest stored entry of the same kind and the fields that differ."""
        kind = fields.get("request", {}).get("kind")
        with self._db() as db:
            if db.execute("SELECT 1 FROM responses WHERE key=?", (key,)).fetchone():
                return MissExplanation(key=key, hit=True)
            rows = db.execute(
                "SELECT key, fields FROM responses WHERE kind=? ORDER BY created DESC LIMIT ?",
                (kind, limit),
            ).fetchall()
        want = flatten(fields)
        best: tuple[int, str, list[FieldDiff]] | None = None
        for other_key, text in rows:
            have = flatten(json.loads(text))
            diffs = [
                FieldDiff(p, have.get(p), want.get(p))
                for p in sorted(set(have) | set(want))
                if have.get(p) != want.get(p)
            ]
            if best is None or len(diffs) < best[0]:
                best = (len(diffs), other_key, diffs)
        if best is None:
            return MissExplanation(key=key, hit=False)
        return MissExplanation(
            key=key, hit=False, nearest_key=best[1], diffs=tuple(best[2]), compared=len(rows)
        )

    def stats(self) -> CacheStats:
        with self._db() as db:
            (entries,) = db.execute("SELECT COUNT(*) FROM responses").fetchone()
            by = db.execute(
                "SELECT backend, model, kind, COUNT(*) FROM responses "
                "GROUP BY backend, model, kind ORDER BY backend, model, kind"
            ).fetchall()
        size = sum(
            p.stat().st_size
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))
            if p.exists()
        )
        corrupt = sorted(self.path.parent.glob(f"{self.path.name}.corrupt-*"))
        corrupt = [p for p in corrupt if not p.name.endswith(("-wal", "-shm"))]
        return CacheStats(self.path, size, int(entries), [tuple(r) for r in by], corrupt)

    def clear(self, model: str | None = None) -> int:
        """Delete every entry (or those of one model); returns how many were deleted."""
        with self._db() as db:
            if model is None:
                cur = db.execute("DELETE FROM responses")
            else:
                cur = db.execute("DELETE FROM responses WHERE model=?", (model,))
            db.commit()
            n = cur.rowcount
            db.execute("VACUUM")
        return int(n)

    def __len__(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
