"""What a PostgreSQL server's backends wait on during a load: ``pg_stat_activity``
sampled from a thread (every ``interval`` seconds, on its own connection), each
busy backend counted by its wait (``Lock/transactionid``, ``IO/WalSync``,
``Client/ClientRead`` of a transaction left open by the app, or ``CPU`` when it
waits on nothing) and by the statement; a backend waiting on a lock is
counted with the statement of the backend that blocks it
(``pg_blocking_pids``), so a summary names both sides of a conflict.

Used by ``benchmarks/feedback_load.py`` (printed after each PostgreSQL run)
and by the tests that check concurrent claims do not wait on each other.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sqlalchemy.engine import make_url

_SAMPLE = """
SELECT a.pid, a.state, a.wait_event_type, a.wait_event, a.query,
       pg_blocking_pids(a.pid) AS blockers
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend' AND a.state <> 'idle'
"""
_SPACES = re.compile(r"\s+")


def statement(sql: str, width: int = 90) -> str:
    """A statement shortened for a summary: whitespace squeezed, ``width`` characters."""
    return _SPACES.sub(" ", sql).strip()[:width]


@dataclass
class WaitSummary:
    """Backend samples by wait and by (wait, statement, blocker's statement)."""

    samples: int = 0  # sampling rounds
    by_wait: Counter[str] = field(default_factory=Counter)
    by_statement: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def busy(self) -> int:
        return sum(self.by_wait.values())

    def lock_waits(self) -> int:
        """Backend samples spent waiting on a heavyweight lock (rows, transactions,
        relations, advisory locks)."""
        return sum(n for w, n in self.by_wait.items() if w.startswith("Lock/"))

    def lines(self, top: int = 8) -> list[str]:
        """The summary as printable lines: mean busy backends per wait, then the
        most sampled statements with what they wait on (and who blocks them)."""
        if not self.samples:
            return ["no samples"]
        out = [
            f"{self.samples} samples; mean busy backends {self.busy() / self.samples:.2f}, "
            f"waiting on a lock {self.lock_waits() / self.samples:.2f}"
        ]
        for wait, n in self.by_wait.most_common(top):
            out.append(f"  {n / self.samples:6.2f}  {wait}")
        out.append("top statements (mean backends, wait, statement [<- blocked by]):")
        for (wait, sql, blocker), n in self.by_statement.most_common(top):
            by = f"  <- {blocker}" if blocker else ""
            out.append(f"  {n / self.samples:6.2f}  {wait:<24} {sql}{by}")
        return out


def classify(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
    """One backend's wait as ``type/event``; ``CPU`` when active and waiting on
    nothing; ``app`` (the server's own code) when idle in a transaction."""
    if state == "idle in transaction" and wait_type == "Client":
        return "app (idle in transaction)"
    if wait_type is None:
        return "CPU"
    return f"{wait_type}/{wait_event}"


class WaitSampler:
    """Sample the waits of every other backend of the database at ``url``
    (a SQLAlchemy URL) every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, url: str, interval: float = 0.05) -> None:
        u = make_url(url)
        self.dsn = (
            f"host={u.host} port={u.port} user={u.username} "
            f"password={u.password} dbname={u.database}"
        )
        self.interval = interval
        self.summary = WaitSummary()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def _sample(self, cur: Any) -> None:
        cur.execute(_SAMPLE)
        rows = cur.fetchall()
        queries = {pid: statement(q or "") for pid, _, _, _, q, _ in rows}
        self.summary.samples += 1
        for _pid, state, wtype, wevent, query, blockers in rows:
            wait = classify(state, wtype, wevent)
            self.summary.by_wait[wait] += 1
            blocker = ""
            if blockers:
                blocker = queries.get(blockers[0], f"pid {blockers[0]} (not sampled)")
            self.summary.by_statement[(wait, statement(query or ""), blocker)] += 1

    def _run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn, conn.cursor() as cur:
                while not self._stop.is_set():
                    self._sample(cur)
                    self._stop.wait(self.interval)
        except Exception as exc:  # reported, never fatal to the run it watches
            self.error = f"{type(exc).__name__}: {exc}"

    def start(self) -> WaitSampler:
        self._thread = threading.Thread(target=self._run, name="pg-waits", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> WaitSummary:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self.summary

    def __enter__(self) -> WaitSampler:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
