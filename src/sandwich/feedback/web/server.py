"""Serving the app: in this process (``sandwich serve``) or as a child process
(:class:`ServerProcess`, used by ``sandwich study simulate``, tests and benchmarks)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from sandwich.errors import ConfigError, SandwichError

if TYPE_CHECKING:
    from fastapi import FastAPI

# how the parent hands the app's settings to its worker processes (they start fresh)
WORKER_SETTINGS_ENV = "SANDWICH_SERVE_SETTINGS"
KEEP_ALIVE_SECONDS = 75


def serve(
    db_url: str | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    https_only: bool | None = None,
    max_body: int | None = None,
    forwarded_allow_ips: str | None = None,
    workers: int = 1,
) -> None:
    """Migrate the database, then serve the app with uvicorn until interrupted.

    ``https_only`` and ``max_body`` go to :func:`~sandwich.feedback.web.app.create_app`
    (None: from the environment). ``forwarded_allow_ips``: the proxies whose
    ``X-Forwarded-For``/``-Proto`` uvicorn trusts (default: uvicorn's,
    ``$FORWARDED_ALLOW_IPS`` or 127.0.0.1); the client address they give is
    what login throttling counts per address.

    ``workers`` > 1: that many uvicorn worker processes share the port. The
    migrations (and the server secret) are made here, once, before they
    start; each worker then builds the app without migrating
    (:func:`worker_app`). Every worker keeps its own login throttle.
    """
    import uvicorn

    from sandwich.feedback.store.migrate import migrate
    from sandwich.feedback.web.app import create_app

    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if workers == 1:
        app: FastAPI | str = create_app(db_url, https_only=https_only, max_body=max_body)
    else:
        migrate(db_url).dispose()  # once, before any worker starts
        settings = {"db_url": db_url, "https_only": https_only, "max_body": max_body}
        os.environ[WORKER_SETTINGS_ENV] = json.dumps(settings)  # inherited by the workers
        app = f"{__name__}:worker_app"
    uvicorn.run(
        app,
        factory=workers > 1,
        workers=workers if workers > 1 else None,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,  # None: $FORWARDED_ALLOW_IPS or 127.0.0.1
        # idle connections stay open longer than a reverse proxy keeps its own (nginx:
        # 60 s), so the server never closes one just as the proxy sends on it
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def worker_app() -> FastAPI:
    """The app in one of :func:`serve`'s worker processes: the parent's settings
    (``$SANDWICH_SERVE_SETTINGS``), the database already migrated."""
    from sandwich.feedback.web.app import create_app

    raw = os.environ.get(WORKER_SETTINGS_ENV)
    if not raw:
        raise ConfigError(f"{WORKER_SETTINGS_ENV} is not set: start workers with serve(workers=N)")
    settings = json.loads(raw)
    return create_app(
        settings["db_url"],
        run_migrations=False,
        https_only=settings["https_only"],
        max_body=settings["max_body"],
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m sandwich.feedback.web.server`` on a free port; ``start()`` waits until
    it answers ``/healthz``; ``stop()`` terminates it (``kill()`` sends SIGKILL to
    it and its worker processes). ``env``: variables set for the child only (this
    process's environment is left alone). ``workers``: uvicorn worker processes."""

    def __init__(
        self,
        db_url: str,
        host: str = "127.0.0.1",
        port: int | None = None,
        log: Path | None = None,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.db_url = db_url
        self.env = dict(env or {})
        self.host = host
        self.port = port or free_port(host)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        cmd = [sys.executable, "-m", "sandwich.feedback.web.server", "--db", self.db_url]
        cmd += ["--host", self.host, "--port", str(self.port), "--workers", str(self.workers)]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(  # its own process group: kill() reaches the workers
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SandwichError(
                    f"the study server exited with code {self.proc.returncode} at start"
                    + (f" (log: {self.log})" if self.log else "")
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SandwichError(f"the study server did not answer on {self.url} within {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL to the server and its workers: no shutdown, no flush (the crash test)."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # gone meanwhile
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m sandwich.feedback.web.server")
    p.add_argument("--db", default=None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--https-only", action="store_true", default=None)
    p.add_argument("--max-body", type=int, default=None)
    p.add_argument("--forwarded-allow-ips", default=None)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    serve(
        args.db,
        args.host,
        args.port,
        https_only=args.https_only,
        max_body=args.max_body,
        forwarded_allow_ips=args.forwarded_allow_ips,
        workers=args.workers,
    )


if __name__ == "__main__":
    main()
