"""SQL statements per label in the study app: simulated raters one at a time
against the real server (uvicorn in a thread of this process), every
statement timed with SQLAlchemy's cursor events; prints the statements and
transactions per label and the slowest statements.

Usage (one command):
    .venv/bin/python benchmarks/feedback_queries.py [--raters 30] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import event

from sandwich.feedback.simulated_raters import simulate
from sandwich.feedback.web.app import create_app
from sandwich.feedback.web.server import free_port
from sandwich.testing.pg_server import TempPostgres
from sandwich.testing.synthetic_study import create_synthetic_study


def measure(url: str, root: Path, raters: int) -> None:
    truth = create_synthetic_study(url, root / "files", n_items=2000, n_task=2100)
    app = create_app(url)
    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    @event.listens_for(app.state.engine, "before_cursor_execute")
    def _before(conn: Any, *_: Any) -> None:
        conn.info["t0"] = time.perf_counter()

    @event.listens_for(app.state.engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        row = stats[" ".join(statement.split())[:100]]
        row[0] += 1
        row[1] += time.perf_counter() - conn.info["t0"]

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    os.environ.setdefault("SANDWICH_TRUSTED_PROXIES", "127.0.0.1")
    report = simulate(
        f"http://127.0.0.1:{port}", "load", n_raters=raters, truth=truth, concurrency=1
    )
    server.should_exit = True
    n = max(1, len(report.confirmed))
    count = sum(int(v[0]) for v in stats.values())
    seconds = sum(v[1] for v in stats.values())
    begins = sum(int(v[0]) for k, v in stats.items() if k.startswith("BEGIN"))
    print(report.summary())
    print(
        f"{n} labels: {count / n:.1f} SQL statements and {seconds / n * 1000:.2f} ms of SQL per "
        f"label" + (f"; {begins / n:.1f} transactions per label" if begins else "")
    )
    for statement, (k, t) in sorted(stats.items(), key=lambda kv: -kv[1][1])[:12]:
        print(f"{t * 1000:8.0f} ms {int(k):6d} x {t / k * 1000:6.2f} ms  {statement}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raters", type=int, default=30)
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.backend == "sqlite":
            measure(f"sqlite:///{root / 'studies.sqlite'}", root, args.raters)
        else:
            with TempPostgres() as pg:
                measure(pg.url, root, args.raters)


if __name__ == "__main__":
    main()
