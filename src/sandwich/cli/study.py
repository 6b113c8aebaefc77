"""``sandwich study ...`` and ``sandwich serve``: human studies from the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from sandwich.cli.console import console

if TYPE_CHECKING:
    import pandas as pd

study_app = typer.Typer(
    help="Human studies: create, invite raters, watch progress, export labels, simulate.",
    no_args_is_help=True,
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SANDWICH_DB",
        help="database URL (default: SQLite in $SANDWICH_HOME; postgresql+psycopg://... works)",
    ),
]


def _sessions(db: str | None) -> Any:
    from sandwich.feedback.store.db import session_factory
    from sandwich.feedback.store.migrate import migrate

    return session_factory(migrate(db))


def serve_cmd(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    https_only: Annotated[
        bool,
        typer.Option(
            "--https-only",
            envvar="SANDWICH_HTTPS_ONLY",
            help="behind a TLS proxy: Secure session cookie and HSTS",
        ),
    ] = False,
    max_body: Annotated[
        int,
        typer.Option(
            envvar="SANDWICH_MAX_BODY", min=1024, help="largest request body in bytes (413 above)"
        ),
    ] = 64 * 1024,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            envvar="FORWARDED_ALLOW_IPS",
            help="proxy addresses trusted for X-Forwarded-For/-Proto (default 127.0.0.1)",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            envvar="SANDWICH_WORKERS",
            min=1,
            help="server processes (migrations run once before they start; see docs/feedback.md)",
        ),
    ] = 1,
) -> None:
    """Serve the study web app (rater pages and the researcher dashboard)."""
    from sandwich.feedback.store.db import make_engine
    from sandwich.feedback.web.server import serve

    scheme = "https (via a proxy)" if https_only else "http"
    console.print(
        f"serving {scheme} on {host}:{port}  (database: "
        f"{make_engine(db).url.render_as_string()}; dashboard: /dashboard; "
        f"request bodies up to {max_body} bytes; {workers} worker process(es))"
    )
    serve(
        db,
        host,
        port,
        https_only=https_only,
        max_body=max_body,
        forwarded_allow_ips=forwarded_allow_ips,
        workers=workers,
    )


@study_app.command("create")
def create_cmd(
    file: Annotated[Path, typer.Argument(help="a study YAML file")],
    owner: Annotated[
        str | None,
        typer.Option(
            help="researcher login who owns it (only they and whom they share it with see it; "
            "without an owner every researcher sees the study)"
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Validate a study YAML and store the study (its items, assistance and slots)."""
    from sandwich.feedback.store.access import get_researcher, share
    from sandwich.feedback.store.studies import create_study
    from sandwich.feedback.study_config import load_study

    cfg = load_study(file)  # fails on a bad field before anything is written
    with _sessions(db).begin() as s:
        if owner is not None:
            get_researcher(s, owner)  # an unknown owner fails before the study is stored
        study = create_study(s, cfg)
        if owner is not None:
            share(s, study, owner, role="owner")
        code = study.completion_code
    n_slots = cfg.n_items * cfg.overlap * len(cfg.conditions)
    console.print(
        f"study [bold]{cfg.name}[/]: {cfg.n_items} items x {len(cfg.conditions)} conditions x "
        f"overlap {cfg.overlap} = {n_slots} labels wanted; {cfg.gold.n} gold, "
        f"{cfg.training.n} training items; completion codes {code}-<per rater> "
        "(check them with `sandwich study verify-code`)"
    )
    needed = -(-n_slots // cfg.items_per_rater)
    console.print(f"about {needed} raters needed ({cfg.items_per_rater} items each)")


@study_app.command("pairs")
def pairs_cmd(
    config: Annotated[Path, typer.Argument(help="a run config with a reward: section")],
    out: Annotated[Path, typer.Option("--out", help="the pairs file to write (JSONL)")],
    seed: Annotated[
        int | None, typer.Option(help="the run's seed whose comparisons to ask (default: first)")
    ] = None,
) -> None:
    """Write the pairs file of a reward config's comparisons (gold on A's only: the
    study's checks; B's and T's asked), for a pairwise study that a human:<study>
    supervisor reads (docs/rewards.md, "Human preferences")."""
    from sandwich.feedback.pairs import write_pairs
    from sandwich.runs import load_config
    from sandwich.runs.reward.pairs import study_pairs

    cfg = load_config(config)
    pairs = study_pairs(cfg, seed, progress=True)
    write_pairs(pairs, out)
    n_gold = sum(p.has_gold for p in pairs)
    console.print(f"wrote {len(pairs)} pairs ({n_gold} with a gold preference, not a tie) to {out}")


@study_app.command("invite")
def invite_cmd(
    study: Annotated[str, typer.Argument(help="study name")],
    n: Annotated[int, typer.Option("--n", help="how many personal links")] = 1,
    base_url: Annotated[str, typer.Option(help="the server's public URL")] = (
        "http://127.0.0.1:8000"
    ),
    db: DbOption = None,
) -> None:
    """Print one personal link per new rater (and the open ?PID= entry link)."""
    from sandwich.feedback.store.studies import get_study, invite, rater_label, study_config

    base = base_url.rstrip("/")
    with _sessions(db).begin() as s:
        raters = invite(s, study, n)
        links = [
            (rater_label(r.id, None), r.condition or "(within)", f"{base}/r/{token}")
            for r, token in raters
        ]
        pid_ok = study_config(get_study(s, study)).allow_pid_entry
    table = Table(title=f"{n} new rater link(s) for {study}")
    for col in ("rater", "condition", "link"):
        table.add_column(col)
    for row in links:
        table.add_row(*row)
    console.print(table)
    if pid_ok:
        console.print(f"open entry (Prolific/MTurk): {base}/s/{study}/start?PID={{PARTICIPANT_ID}}")


@study_app.command("status")
def status_cmd(
    study: Annotated[str, typer.Argument(help="study name")],
    db: DbOption = None,
) -> None:
    """Progress, rater quality, agreement and the human sandwich metric."""
    from sandwich.feedback.analysis.agreement import agreement_table
    from sandwich.feedback.analysis.console_tables import print_agreement, print_status
    from sandwich.feedback.analysis.study_status import study_status
    from sandwich.feedback.store.studies import get_study

    with _sessions(db).begin() as s:
        st = study_status(s, get_study(s, study))
    print_status(st, console)
    if len(st.labels):
        print_agreement(agreement_table(st.labels), console)


@study_app.command("export")
def export_cmd(
    study: Annotated[str, typer.Argument(help="study name")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="a .csv or .jsonl file (default: <study>-labels.csv)"),
    ] = None,
    training: Annotated[bool, typer.Option(help="include training-phase labels")] = False,
    db: DbOption = None,
) -> None:
    """Write the study's labels (CSV or JSONL) and print a run-config snippet using them."""
    from sandwich.feedback.analysis.export import export_problem, write_labels
    from sandwich.feedback.analysis.study_status import labels_frame
    from sandwich.feedback.store.studies import get_study, study_config

    path = out or Path(f"{study}-labels.csv")
    with _sessions(db).begin() as s:
        found = get_study(s, study)
        frame = labels_frame(s, found, include_training=training)
        n = write_labels(frame, path)
        problem = export_problem(s, found)
        conditions = [c.name for c in study_config(found).conditions]
    console.print(f"wrote {n} labels to {path}")
    if problem:
        console.print(
            f"[yellow]note:[/] these labels cannot be read back as label records: {problem}",
            highlight=False,
        )
    for line in _export_exclusions(frame):  # never silent
        console.print(line, highlight=False)
    snippet = "\n".join(
        f"    - name: human\n      label: human-{c}\n"
        f"      params: {{path: {json.dumps(str(path))}, condition: {c}}}"
        for c in conditions
    )
    console.print(
        f"use them as weak supervisors in a run config:\n  weak:\n{snippet}", highlight=False
    )


def _export_exclusions(frame: pd.DataFrame) -> list[str]:
    """What the exported file (``frame``, as written) marks ``excluded``
    (crowd-study checks), in words."""
    from sandwich.feedback.analysis.exclusions import apply_exclusions

    lines = apply_exclusions(frame)[1].lines()
    if lines:
        lines[0] += " (kept in the file with excluded = true; the human supervisor drops them)"
    return lines


@study_app.command("verify-code")
def verify_code_cmd(
    study: Annotated[str, typer.Argument(help="study name")],
    codes: Annotated[list[str], typer.Argument(help="completion codes participants gave")],
    db: DbOption = None,
) -> None:
    """Check completion codes: whose each is, and whether they finished and passed
    (codes of raters screened out or excluded by the study's checks are refused)."""
    from sandwich.errors import SandwichError
    from sandwich.feedback.store.migrate import ensure_secret
    from sandwich.feedback.store.studies import get_study, verify_code

    Sessions = _sessions(db)
    secret = ensure_secret(Sessions.kw["bind"])
    with Sessions.begin() as s:
        found = get_study(s, study)
        checks = [verify_code(s, secret, found, code) for code in codes]
    table = Table(title=f"completion codes of {study}")
    for col in ("code", "rater", "finished", "passed", "stopped", "valid"):
        table.add_column(col)
    for c in checks:
        table.add_row(
            c.code, c.rater or "(no rater of this study)", str(c.finished), str(c.passed),
            c.stopped or "-", "yes" if c.earned else "NO",
        )  # fmt: skip
    console.print(table)
    bad = [c.code for c in checks if not c.earned]
    if bad:
        raise SandwichError(
            f"{len(bad)} of {len(checks)} code(s) are not earned completion codes of "
            f"study {study!r}: {', '.join(bad)}"
        )


@study_app.command("researcher")
def researcher_cmd(
    username: Annotated[str, typer.Argument(help="login name for the dashboard")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="SANDWICH_RESEARCHER_PASSWORD",
            help="at least 10 characters (stored as an argon2 hash)",
        ),
    ],
    db: DbOption = None,
) -> None:
    """Create a dashboard login (or change its password)."""
    from sandwich.feedback.web.security import set_researcher

    with _sessions(db).begin() as s:
        set_researcher(s, username, password)
    console.print(f"researcher {username!r} can log in at /login")


@study_app.command("share")
def share_cmd(
    study: Annotated[str, typer.Argument(help="study name")],
    with_: Annotated[
        list[str], typer.Option("--with", help="researcher login (repeat for several)")
    ],
    owner: Annotated[bool, typer.Option("--owner", help="as owner rather than member")] = False,
    remove: Annotated[bool, typer.Option("--remove", help="take their access away")] = False,
    db: DbOption = None,
) -> None:
    """Let researchers see a study on the dashboard (or, with --remove, no longer).

    A study nobody was given (no owner, no member) is visible to every
    researcher; the first share closes it to everyone else.
    """
    from sandwich.feedback.store.access import members, share, unshare
    from sandwich.feedback.store.studies import get_study

    with _sessions(db).begin() as s:
        found = get_study(s, study)
        for name in with_:
            if remove:
                unshare(s, found, name)
            else:
                share(s, found, name, role="owner" if owner else "member")
        now = members(s, found)
    who = ", ".join(f"{u} ({r})" for u, r in now) or "every researcher (no owner set)"
    console.print(f"study {study} is visible to: {who}", highlight=False)


@study_app.command("simulate")
def simulate_cmd(
    study: Annotated[str, typer.Argument(help="study name")],
    raters: Annotated[int, typer.Option(help="simulated raters")] = 10,
    skill: Annotated[float, typer.Option(help="P(right) of a rater on their own")] = 0.7,
    trust: Annotated[float, typer.Option(help="P(following a shown model answer)")] = 0.8,
    concurrency: Annotated[int, typer.Option(help="raters at once")] = 5,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    url: Annotated[
        str | None,
        typer.Option(help="a running server (default: start one on the database)"),
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
    careless: Annotated[
        float, typer.Option(help="share of raters answering everything at random, checks too")
    ] = 0.0,
    db: DbOption = None,
) -> None:
    """Drive the real app over HTTP with simulated raters, then print the status."""
    from sandwich.errors import ConfigError
    from sandwich.feedback.analysis.console_tables import print_status
    from sandwich.feedback.analysis.study_status import study_status
    from sandwich.feedback.simulated_raters import SimulationReport, simulate
    from sandwich.feedback.store.checks import check_keys
    from sandwich.feedback.store.db import default_db_url
    from sandwich.feedback.store.studies import get_study, study_config, study_truth
    from sandwich.feedback.web.rater_pages import TRUSTED_PROXIES_ENV
    from sandwich.feedback.web.server import ServerProcess

    Sessions = _sessions(db)
    with Sessions.begin() as s:
        truth = study_truth(s, get_study(s, study))
        cfg = study_config(get_study(s, study))
        if cfg.is_pairwise:
            raise ConfigError(
                f"study {study!r} is pairwise: simulated raters answer statements only"
            )
        comprehension, attention = check_keys(cfg)

    def drive(target: str) -> SimulationReport:
        return simulate(
            target, study, raters, skill, concurrency, duration, trust=trust, truth=truth,
            seed=seed, comprehension=comprehension, attention=attention, careless=careless,
        )  # fmt: skip

    if url is None:
        # the simulated raters all come from this machine, each named by its own
        # X-Forwarded-For address: the server started here believes it from loopback
        with ServerProcess(
            db or default_db_url(), env={TRUSTED_PROXIES_ENV: "127.0.0.1"}
        ) as server:
            report = drive(server.url)
    else:
        report = drive(url)
    console.print(report.summary())
    for e in report.errors[:5]:
        console.print(f"[yellow]error:[/] {e}")
    with Sessions.begin() as s:
        print_status(study_status(s, get_study(s, study)), console)
