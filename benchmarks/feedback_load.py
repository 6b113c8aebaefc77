"""Human-study web app under load: labels/s and submit latency with 50
simulated raters at once, on SQLite and on a real PostgreSQL server, side by
side with two ceilings measured in the same run on the same machine:

- commit peak: one-row INSERT transactions per second straight into the same
  database with the same settings (SQLite WAL + synchronous=FULL; PostgreSQL
  fsync on), 50 threads: what storage allows if the app did nothing else;
- HTTP peak: GET /healthz per second against the same uvicorn server with the
  same 50 concurrent clients: what the web stack allows for a trivial page.

A simulated rater's label costs four requests (the item page, the submit, the
redirect's page is the next item) plus a transaction that claims a slot and
one that stores the label, so the app's labels/s sits well below both.

Usage: .venv/bin/python benchmarks/feedback_load.py [--seconds 60] [--concurrency 50]
       [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from sandwich.feedback.simulated_raters import simulate
from sandwich.feedback.store.db import make_engine
from sandwich.feedback.web.server import ServerProcess
from sandwich.testing.load_audit import audit
from sandwich.testing.pg_server import TempPostgres
from sandwich.testing.synthetic_study import create_synthetic_study


def commit_peak(url: str, threads: int, seconds: float) -> float:
    """One-row INSERT transactions per second, ``threads`` at once."""
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE bench_commits (id INTEGER PRIMARY KEY, x INTEGER)"))
    count = [0] * threads
    stop = time.monotonic() + seconds

    def work(k: int) -> None:
        n = 0
        while time.monotonic() < stop:
            with engine.begin() as c:
                c.execute(
                    text("INSERT INTO bench_commits (id, x) VALUES (:i, :x)"),
                    {"i": k * 10_000_000 + n, "x": n},
                )
            n += 1
        count[k] = n

    start = time.monotonic()
    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    rate = sum(count) / (time.monotonic() - start)
    with engine.begin() as c:
        c.execute(text("DROP TABLE bench_commits"))
    engine.dispose()
    return rate


async def _http_peak(base: str, clients: int, seconds: float) -> float:
    stop = time.monotonic() + seconds
    done = [0]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def loop() -> None:
            while time.monotonic() < stop:
                r = await client.get("/healthz")
                r.raise_for_status()
                done[0] += 1

        start = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(clients)))
        return done[0] / (time.monotonic() - start)


def one_backend(name: str, url: str, root: Path, seconds: float, concurrency: int) -> None:
    truth = create_synthetic_study(url, root / "files", n_items=2000, n_task=2100)
    # simulated raters name their own addresses (X-Forwarded-For): trust loopback for it
    os.environ.setdefault("SANDWICH_TRUSTED_PROXIES", "127.0.0.1")
    with ServerProcess(url, log=root / f"{name}-server.log") as server:
        report = simulate(
            server.url, "load", n_raters=100_000, skill=0.7, concurrency=concurrency,
            duration=seconds, truth=truth,
        )  # fmt: skip
        http = asyncio.run(_http_peak(server.url, concurrency, min(seconds, 15.0)))
    result = audit(url, "load", report)
    peak = commit_peak(url, concurrency, min(seconds, 15.0))
    labels = report.throughput
    print(f"\n{name}: {report.summary()}")
    print(f"{name}: audit: {result.summary()}")
    print(f"{'':<12}{'per second':>12}{'app labels/s as share':>24}")
    print(f"{'app labels':<12}{labels:>12.1f}{'1.00':>24}")
    print(f"{'commit peak':<12}{peak:>12.1f}{labels / peak:>24.3f}")
    print(f"{'HTTP peak':<12}{http:>12.1f}{labels / http:>24.3f}")
    print(
        f"{name}: submit latency p50 {report.latency_quantile(0.5) * 1000:.0f} ms, "
        f"p95 {report.latency_quantile(0.95) * 1000:.0f} ms, "
        f"max {max((x.latency for x in report.labels), default=float('nan')) * 1000:.0f} ms"
    )
    if not result.ok:
        raise SystemExit(f"{name}: the audit failed: {result.summary()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in args.backends.split(","):
            if name == "sqlite":
                url = f"sqlite:///{root / 'sqlite' / 'studies.sqlite'}"
                one_backend(name, url, root / "sqlite", args.seconds, args.concurrency)
            elif name == "postgresql":
                with TempPostgres() as pg:
                    one_backend(name, pg.url, root / "pg", args.seconds, args.concurrency)
            else:
                raise SystemExit(f"unknown backend {name!r} (sqlite, postgresql)")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
