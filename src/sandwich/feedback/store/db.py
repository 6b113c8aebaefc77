"""Storage of human studies: SQLAlchemy models and the engine.

SQLite (the default) runs in WAL mode with a busy timeout, and every
transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers queue
instead of failing. The study server also queues its own transactions on
:func:`writer_queue` (a lock per process and a lock file across processes):
SQLite's busy handler polls with sleeps of up to 100 ms, so under a crowd a
writer would otherwise wait far longer than the transaction ahead of it
takes. PostgreSQL (``postgresql+psycopg://...``) uses its own
row locks. The schema is created by Alembic migrations
(:func:`sandwich.feedback.store.migrate.migrate`), never by ``create_all``.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from sandwich.config import env_int
from sandwich.errors import ConfigError
from sandwich.store.artifacts import default_home


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    completion_code: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("study_id", "key", name="uq_items_study_key"),
        Index("ix_items_role", "study_id", "role", "position"),  # 0005_claim_index
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    gold: Mapped[bool] = mapped_column(Boolean)
    role: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    assistance: Mapped[dict[str, Any]] = mapped_column(JSON)
    # migration 0006_pairwise: a pairwise item's prompt, completions and gold
    # (:class:`sandwich.feedback.pairs.Pair` as a dict); NULL for a statement
    pair: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)


class Rater(Base):
    __tablename__ = "raters"
    __table_args__ = (
        UniqueConstraint("study_id", "external_id", name="uq_raters_external"),
        Index("ix_raters_entry_address", "study_id", "entry_address"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    # sha256 of the rater's token (the secret in their link), never the token itself:
    # a copy of the database does not open anyone's session
    token_hash: Mapped[str] = mapped_column("token", String(64), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # HMAC of the client address a PID-entry rater came from (for the per-address cap)
    entry_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    condition: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Assignment(Base):
    """One (item, condition) shown to one rater.

    Main items get ``overlap`` slots per condition, made when the study is
    created with ``rater_id`` NULL; a rater claims a slot with a conditional
    UPDATE, so an item can never be assigned more than ``overlap`` times.
    Gold and training assignments are made per rater (``slot`` NULL).
    ``key`` is a random token set when the assignment is given to a rater:
    the form names the assignment by it, so its row id (which would tell
    main slots from gold and training items) never reaches the rater.
    """

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "condition", "slot", name="uq_assignments_slot"),
        UniqueConstraint("rater_id", "item_id", name="uq_assignments_rater_item"),
        # claiming a main slot walks one condition's slots in claim order (0005_claim_index)
        Index(
            "ix_assignments_claim",
            "study_id",
            "role",
            "condition",
            "slot",
            "item_id",
            "rater_id",
            "answered_at",
            "assigned_at",
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    condition: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(16))
    slot: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rater_id: Mapped[int | None] = mapped_column(ForeignKey("raters.id"), nullable=True, index=True)
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    key: Mapped[str | None] = mapped_column(String(43), nullable=True, unique=True, index=True)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # read-only: a claim loads it in its own statement (PostgreSQL), and the loaded
    # assignment keeps it in the session for the item page (no second read)
    item: Mapped[Item] = relationship(viewonly=True)


class Label(Base):
    """A rater's answer. ``confidence`` is in [0.5, 1]: how sure the rater is of
    ``answer`` (0.5 = a guess), so P(true) = confidence if answer else 1 - confidence."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("rater_id", "item_id", name="uq_labels_rater_item"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    condition: Mapped[str] = mapped_column(String(40))
    answer: Mapped[bool] = mapped_column(Boolean)
    confidence: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(300), default="")
    seconds: Mapped[float] = mapped_column(Float)
    is_gold: Mapped[bool] = mapped_column(Boolean)
    is_training: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # migration 0003_checks: answered after an enforced time limit (kept, not counted)
    timed_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # migration 0006_pairwise: a pairwise item was shown B first (``answer`` is
    # "A preferred" in the canonical order either way); NULL for a statement
    swapped: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class RaterCheck(Base):
    """A rater's comprehension and attention checks (migration 0003_checks).

    One row per rater who has reached a check. ``screened_out_at``: failed
    the comprehension questions ``attempts`` times (no items, no code);
    ``excluded_at``: failed more attention checks than the study allows
    (stopped, labels left out of the analysis, main slots released).
    """

    __tablename__ = "rater_checks"
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    comprehension_attempts: Mapped[int] = mapped_column(Integer, default=0)
    comprehension_passed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    screened_out_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    excluded_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    excluded_reason: Mapped[str] = mapped_column(String(200), default="")


class Researcher(Base):
    __tablename__ = "researchers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # copied into the session cookie; bumped on logout and password change (0004_security)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StudyMember(Base):
    """A researcher who may see a study: its ``owner`` or a ``member`` it was
    shared with. A study without any member row is visible to every researcher
    (studies made before owners existed). Migration 0004_security."""

    __tablename__ = "study_members"
    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True
    )
    researcher_id: Mapped[int] = mapped_column(
        ForeignKey("researchers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # "owner" or "member"


class Setting(Base):
    """Server-wide values, e.g. the secret that signs session cookies (kept
    in the database so a restarted server accepts the sessions it issued)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def default_db_url() -> str:
    """``$SANDWICH_DB`` or a SQLite file in the artifact store's home."""
    import os

    env = os.environ.get("SANDWICH_DB")
    if env:
        return env
    home = default_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'studies.sqlite'}"


POOL_ENV = "SANDWICH_DB_POOL"
DEFAULT_POOL = 20
# beyond the pool: only for work outside the request threads (which the app
# caps at the pool size, :func:`sandwich.feedback.web.app.create_app`)
POOL_OVERFLOW = 5
POOL_RECYCLE_SECONDS = 1800


def pool_size() -> int:
    """PostgreSQL connections each server process keeps open (``$SANDWICH_DB_POOL``,
    default 20). The study server runs at most that many requests' transactions
    at once per process, so every request finds a pooled connection: a pool
    smaller than the request threads (it was 10 for 40 threads) opened and
    closed a connection, with its password handshake, for every request
    beyond it, which cost about a seventh of the server's CPU under a crowd."""
    return env_int(POOL_ENV, DEFAULT_POOL, 1, "connections")


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (SQLite path or PostgreSQL URL); SQLite gets WAL,
    a 30 s busy timeout, foreign keys on and ``BEGIN IMMEDIATE`` transactions.

    PostgreSQL: a pool of :func:`pool_size` connections, not pinged on each
    checkout (the ping was a round trip per transaction, 4% of the server's
    CPU under a crowd). A connection the server dropped (restart, idle
    timeout) fails the one statement that finds it, which invalidates every
    pooled connection opened before it, so the next requests reconnect;
    connections are replaced after 30 minutes in any case."""
    url = url or default_db_url()
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"bad database URL {url!r}: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_setup(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_size=pool_size(),
            max_overflow=POOL_OVERFLOW,
            pool_pre_ping=False,
            pool_recycle=POOL_RECYCLE_SECONDS,
            pool_use_lifo=True,
        )
    raise ConfigError(
        f"unsupported database {url!r}: use sqlite:///path.db or postgresql+psycopg://..."
    )


class SQLiteWriters:
    """The queue of a SQLite database's writers: a lock per process, then an
    exclusive ``flock`` on ``<database>.writers`` shared by every process
    (server workers) that queues here. Both block without polling, so the next
    writer starts as soon as the previous one commits. It only orders the
    writers that use it: SQLite's own locks still guard the data (a CLI
    command that skips the queue waits in the busy timeout, as before)."""

    def __init__(self, database: str | None) -> None:
        self.path = Path(database + ".writers") if database else None
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self.path is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # a new process opens its own
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._lock:
            fd = self._file()
            if fd is None or _flock is None:
                yield
                return
            _flock(fd, True)
            try:
                yield
            finally:
                _flock(fd, False)


try:  # POSIX: flock across processes; elsewhere the per-process lock alone
    import fcntl

    def _flock_posix(fd: int, take: bool) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX if take else fcntl.LOCK_UN)

    _flock: Any = _flock_posix
except ImportError:  # pragma: no cover - Windows
    _flock = None


def writer_queue(engine: Engine) -> Callable[[], AbstractContextManager[None]]:
    """What the study server holds around each transaction (make it once per
    app): a new :class:`SQLiteWriters` of the SQLite database, nothing on
    PostgreSQL (row locks let its transactions run side by side)."""
    if engine.dialect.name != "sqlite":
        return nullcontext
    database = engine.url.database
    return SQLiteWriters(database if database and database != ":memory:" else None).hold


def session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)
