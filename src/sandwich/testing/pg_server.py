"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` and
``pg_ctl`` from Debian's ``postgresql`` package, a fresh data directory, a
free port on 127.0.0.1, password (SCRAM) authentication.

PostgreSQL refuses to run as root, so under root (as in CI) every server
command runs as the ``postgres`` system user (``runuser -u postgres --``) and
the data directory is a private temporary directory owned by that user.

    with TempPostgres() as pg:
        engine = make_engine(pg.url)   # postgresql+psycopg://sandwich:...@127.0.0.1:PORT/sandwich
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from sandwich.errors import SandwichError, required
from sandwich.feedback.web.server import free_port

HINT = "install it with `bash scripts/system-deps.sh` (Debian's postgresql package)"


def pg_bindir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if not found:
        on_path = shutil.which("initdb")
        if on_path:
            return Path(on_path).parent
        raise SandwichError(f"PostgreSQL's initdb was not found; {HINT}")
    return Path(found[-1]).parent


class TempPostgres:
    """Start with :meth:`start` (or ``with``); :attr:`url` is a SQLAlchemy URL;
    :meth:`stop` shuts the server down and deletes its data directory."""

    def __init__(self, database: str = "sandwich", user: str = "sandwich") -> None:
        self.database = database
        self.user = user
        self.password = secrets.token_urlsafe(16)
        self.port = 0
        self.root: Path | None = None
        self._prefix: list[str] = []
        self._owner: tuple[int, int] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def data(self) -> Path:
        return required(self.root, "the server's root (start it first)") / "data"

    def _run(self, *cmd: str) -> None:
        proc = subprocess.run([*self._prefix, *cmd], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            log = self.root / "server.log" if self.root else None
            tail = log.read_text()[-2000:] if log and log.is_file() else ""
            raise SandwichError(
                f"{Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
                + (f"\nserver log:\n{tail}" if tail else "")
            )

    def start(self) -> TempPostgres:
        bindir = pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="sandwich-pg-"))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise SandwichError(
                    f"running as root, PostgreSQL needs the 'postgres' system user; {HINT}"
                ) from None
            self._owner = (pw.pw_uid, pw.pw_gid)
            self._prefix = ["runuser", "-u", "postgres", "--"]
            os.chown(self.root, *self._owner)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self._owner:
            os.chown(pwfile, *self._owner)
        self._run(
            str(bindir / "initdb"),
            "-D", str(self.data),
            "-U", self.user,
            "--pwfile", str(pwfile),
            "--auth", "scram-sha-256",
            "--encoding", "UTF8",
            "--no-instructions",
            "--no-sync",  # initdb's own files only; the server still fsyncs every commit
        )  # fmt: skip
        pwfile.unlink()
        for _ in range(5):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            opts = (
                f"-p {self.port} -k {self.root} "
                "-c listen_addresses=127.0.0.1 -c max_connections=200"
            )
            try:
                self._run(
                    str(bindir / "pg_ctl"), "-D", str(self.data),
                    "-l", str(self.root / "server.log"), "-o", opts, "-w", "-t", "60", "start",
                )  # fmt: skip
                break
            except SandwichError:
                if "could not bind" not in (self.root / "server.log").read_text(errors="replace"):
                    raise
        else:
            raise SandwichError("PostgreSQL could not bind a free port on 127.0.0.1")
        self._create_database()
        return self

    def _create_database(self, name: str | None = None) -> None:
        import psycopg

        dsn = (
            f"host=127.0.0.1 port={self.port} user={self.user} "
            f"password={self.password} dbname=postgres"
        )
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name or self.database}"')

    def new_database(self) -> str:
        """Create another empty database on this server; return its URL."""
        if self.root is None:
            raise SandwichError("TempPostgres.new_database: the server is not started")
        name = f"db_{secrets.token_hex(6)}"
        self._create_database(name)
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id (its backends are its children), None when
        the server is not running: for measuring the database's CPU."""
        if self.root is None or not (self.data / "postmaster.pid").exists():
            return None
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.data / "postmaster.pid").exists():
            bindir = pg_bindir()
            try:
                self._run(str(bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            except SandwichError:
                self._run(str(bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> TempPostgres:
        return self.start() if self.root is None else self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
