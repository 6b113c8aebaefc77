"""Human-study web app under load: labels/s and submit latency with many
simulated raters at once (``--concurrency``, e.g. 200), on SQLite and on a
real PostgreSQL server, with the server's worker processes (``--workers``),
side by side with two ceilings measured in the same run on the same machine:

- commit peak: one-row INSERT transactions per second straight into the same
  database with the same settings (SQLite WAL + synchronous=FULL; PostgreSQL
  fsync on), 50 threads: what storage allows if the app did nothing else;
- HTTP peak: GET /healthz per second against the same uvicorn server with the
  same 50 concurrent clients: what the web stack allows for a trivial page.

A simulated rater's label costs two requests (the submit and the next item
page it redirects to) plus a transaction that claims a slot and one that
stores the label, so the app's labels/s sits well below both.

The load lasts ``--seconds``: a rater still reading an item then leaves without
answering, so the rate is the labels confirmed over the time all the raters
were at work (before, the run drained for up to ~8 s while the last raters
finished their pauses, and those seconds counted too).

The simulated raters (asyncio + httpx) all run in this one process, which
shares the machine's cores with the server: its CPU share (CPU seconds per
wall second while the load runs) is printed next to the numbers. After the
load, the audit checks the database: every confirmed label stored once with
the answer sent, no rater twice on an item, no (item, condition) over overlap.

On PostgreSQL a thread samples ``pg_stat_activity`` every 0.1 s during the
load and the run prints what the database's backends were doing: running,
waiting on a lock (with the statement that blocks them), on the WAL, or idle
inside a transaction the app has open (:mod:`sandwich.testing.pg_waits`).

Each run ends with the target line: at least 100 labels/s and a submit p95
under 300 ms, both in the same run, nothing lost, duplicated or over-assigned.

Usage (one command; the numbers in BENCHMARKS.md; defaults: 2 workers, raters
reading 1.5 s on average before each answer, both backends):
    .venv/bin/python benchmarks/feedback_load.py \
        --seconds 40 --concurrency 200 --workers 2 --think 1.5
    .venv/bin/python benchmarks/feedback_load.py --think 0      # saturation: raters never pause
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from sandwich.feedback.simulated_raters import simulate
from sandwich.feedback.store.db import make_engine
from sandwich.feedback.web.server import ServerProcess
from sandwich.testing.load_audit import audit
from sandwich.testing.pg_server import TempPostgres
from sandwich.testing.pg_waits import WaitSampler
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


async def _http_peak(base: str, clients: int, seconds: float) -> tuple[float, int]:
    """``GET /healthz`` answered per second, and the requests that failed (a
    dropped connection under overload counts, it does not end the run)."""
    stop = time.monotonic() + seconds
    done, failed = [0], [0]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def loop() -> None:
            while time.monotonic() < stop:
                try:
                    r = await client.get("/healthz")
                    r.raise_for_status()
                    done[0] += 1
                except httpx.HTTPError:
                    failed[0] += 1

        start = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(clients)))
        return done[0] / (time.monotonic() - start), failed[0]


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants
    (the server and its workers), from /proc (Linux); descendants that have
    exited count too (their parent's cutime and cstime: PostgreSQL backends
    of connections that were closed)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / tick  # utime, stime, cutime, cstime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def one_backend(
    name: str,
    url: str,
    root: Path,
    seconds: float,
    concurrency: int,
    workers: int,
    think: float,
    db_pid: int | None = None,
) -> None:
    truth = create_synthetic_study(url, root / "files", n_items=2000, n_task=2100)
    # simulated raters name their own addresses (X-Forwarded-For): trust loopback for it
    os.environ.setdefault("SANDWICH_TRUSTED_PROXIES", "127.0.0.1")
    log = root / f"{name}-server.log"
    kw: dict[str, Any] = {"workers": workers} if workers != 1 else {}  # older: no workers
    with ServerProcess(url, log=log, **kw) as server:
        assert server.proc is not None
        load_before = loadavg()
        server0, cpu0 = tree_cpu(server.proc.pid), time.process_time()
        db0 = tree_cpu(db_pid) if db_pid else 0.0
        waits = (
            WaitSampler(url, interval=0.1).start() if db_pid else None
        )  # PostgreSQL: what it waits on
        report = simulate(
            server.url, "load", n_raters=100_000, skill=0.7, concurrency=concurrency,
            duration=seconds, truth=truth, think=think,
        )  # fmt: skip
        if waits is not None:
            waits.stop()
        loader_s = time.process_time() - cpu0
        server_s = tree_cpu(server.proc.pid) - server0
        db_s = tree_cpu(db_pid) - db0 if db_pid else 0.0
        load_after = loadavg()
        http, http_failed = asyncio.run(_http_peak(server.url, concurrency, min(seconds, 15.0)))
    result = audit(url, "load", report)
    peak = commit_peak(url, concurrency, min(seconds, 15.0))
    labels = report.throughput
    print(
        f"\n{name}: {workers} server worker(s), {concurrency} raters at once, "
        f"think time {think:g} s (mean, before each answer)"
    )
    print(f"{name}: {report.summary()}")
    wall, n = report.wall_seconds, max(1, len(report.confirmed))
    cores = os.cpu_count() or 1
    print(
        f"{name}: CPU while loaded: server {server_s / wall:.2f} cores, loader (simulated "
        f"raters, this process) {loader_s / wall:.2f} cores "
        f"({loader_s / (loader_s + server_s):.0%} of the two) on {cores} cores; load average "
        f"before the load {load_before}, after {load_after}"
    )
    per_label = (server_s + loader_s + db_s) / n
    database = f" + database server {db_s / n * 1000:.1f} ms" if db_pid else ""
    print(
        f"{name}: CPU per confirmed label: app server {server_s / n * 1000:.1f} ms + loader "
        f"{loader_s / n * 1000:.1f} ms{database} = {per_label * 1000:.1f} ms, so {cores} "
        f"idle cores would allow about {cores / per_label:.0f} labels/s"
    )
    if report.errors:
        print(f"{name}: first errors: {report.errors[:3]}")
    unconfirmed = Counter(x.outcome for x in report.labels if not x.confirmed)
    if unconfirmed:
        print(f"{name}: submits not confirmed, by outcome: {dict(unconfirmed)}")
    print(f"{name}: audit: {result.summary()}")
    print(f"{'':<12}{'per second':>12}{'app labels/s as share':>24}")
    print(f"{'app labels':<12}{labels:>12.1f}{'1.00':>24}")
    print(f"{'commit peak':<12}{peak:>12.1f}{labels / peak:>24.3f}")
    print(f"{'HTTP peak':<12}{http:>12.1f}{labels / http:>24.3f}")
    if http_failed:
        print(f"{name}: HTTP peak: {http_failed} requests failed (connection dropped)")
    print(
        f"{name}: submit latency p50 {report.latency_quantile(0.5) * 1000:.0f} ms, "
        f"p95 {report.latency_quantile(0.95) * 1000:.0f} ms, "
        f"max {max((x.latency for x in report.labels), default=float('nan')) * 1000:.0f} ms"
    )
    if waits is not None:
        print(f"{name}: what the database's backends were doing while loaded (pg_stat_activity):")
        for line in [waits.error or "", *waits.summary.lines()]:
            if line:
                print(f"{name}:   {line}")
    p95 = report.latency_quantile(0.95)
    met = labels >= 100 and p95 < 0.3 and result.ok
    print(
        f"{name}: target (>= 100 labels/s and submit p95 < 300 ms in one run, audit clean): "
        f"{'met' if met else 'NOT met'} ({labels:.1f} labels/s, p95 {p95 * 1000:.0f} ms)"
    )
    if not result.ok:
        raise SystemExit(f"{name}: the audit failed: {result.summary()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument(
        "--think",
        type=float,
        default=1.5,
        help="mean seconds a rater reads before answering (default 1.5, a fast reader; "
        "0: a saturation test, latency = raters / rate)",
    )
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    print(f"load average at start: {loadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = (args.seconds, args.concurrency, args.workers, args.think)
        for name in args.backends.split(","):
            if name == "sqlite":
                url = f"sqlite:///{root / 'sqlite' / 'studies.sqlite'}"
                one_backend(name, url, root / "sqlite", *run)
            elif name == "postgresql":
                with TempPostgres() as pg:
                    one_backend(name, pg.url, root / "pg", *run, db_pid=pg.pid)
            else:
                raise SystemExit(f"unknown backend {name!r} (sqlite, postgresql)")
    print(f"\nload average at end: {loadavg()}")


if __name__ == "__main__":
    main()
