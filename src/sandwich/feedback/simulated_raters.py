"""Simulated raters that drive the real app over HTTP.

Each simulated rater enters through the study's open link
(``/s/<study>/start?PID=...``, a Prolific-like id of 24 hex characters, and
its own ``X-Forwarded-For`` address), starts, answers every item it is given and
reads the completion code, exactly as a person's browser would (same pages,
same forms, CSRF tokens and cookies). Its skill is the probability that it
answers an item right on its own; when the page shows a model's answer it
follows that answer with probability ``trust``. For every label it records
whether the server confirmed it saved (a 303 with ``X-Sandwich-Label`` saved,
duplicate or timed-out), and the request's latency.

Crowd-study checks: a simulated rater answers the comprehension questions
from ``comprehension`` (question -> right option) and follows the
instruction of an attention check (``attention``: text -> instructed
answer). A *careless* rater (a share ``careless`` of raters, drawn per
rater) answers everything at random, checks included, so it tends to be
screened out or excluded. Confidence is always set (the form has no default).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import httpx
import numpy as np

from sandwich.errors import SandwichError

_AID = re.compile(r'name="assignment_id" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_TEXT = re.compile(r'id="item-text">(.*?)</blockquote>', re.S)
_MODEL = re.compile(r'class="model-answer">The model says: <strong>(true|false)</strong>')
_CODE = re.compile(r'id="completion-code">([^<]*)<')
_QUESTION = re.compile(r"<legend>(.*?)</legend>(.*?)</fieldset>", re.S)
_OPTION = re.compile(r'name="(q\d+)" value="(\d+)"[^>]*> (.*?)</label>', re.S)


@dataclass(frozen=True)
class SimLabel:
    """One submitted answer and what the server said."""

    rater: str
    assignment: str  # the assignment's key, as the form named it
    text: str
    answer: bool
    confidence: float
    confirmed: bool  # the server replied "saved" (or "duplicate": saved before)
    outcome: str  # saved | duplicate | timed-out | gone | error:<what>
    latency: float  # seconds, the submit request


@dataclass
class SimulationReport:
    labels: list[SimLabel] = field(default_factory=list)
    raters_started: int = 0
    raters_finished: int = 0
    completion_codes: dict[str, str | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def confirmed(self) -> list[SimLabel]:
        return [x for x in self.labels if x.confirmed]

    @property
    def throughput(self) -> float:
        """Confirmed labels per second of wall time."""
        return len(self.confirmed) / self.wall_seconds if self.wall_seconds else 0.0

    def latency_quantile(self, q: float) -> float:
        lat = [x.latency for x in self.labels if x.confirmed]
        return float(np.quantile(lat, q)) if lat else float("nan")

    def summary(self) -> str:
        return (
            f"{self.raters_started} raters started, {self.raters_finished} finished; "
            f"{len(self.confirmed)} labels confirmed of {len(self.labels)} submitted; "
            f"{self.throughput:.1f} labels/s; submit latency p50 "
            f"{self.latency_quantile(0.5) * 1000:.0f} ms, p95 "
            f"{self.latency_quantile(0.95) * 1000:.0f} ms; {len(self.errors)} errors; "
            f"{self.wall_seconds:.1f} s"
        )


class _Stop(Exception):
    pass


def simulated_pid(prefix: str, seed: int, i: int) -> str:
    """Simulated rater ``i``'s participant id: 24 hex characters, like a Prolific
    id (so it passes a study's default ``entry.pid_pattern``), fixed by
    ``prefix``, ``seed`` and ``i``."""
    return hashlib.sha256(f"{prefix}:{seed}:{i}".encode()).hexdigest()[:24]


def simulated_address(i: int) -> str:
    """Simulated rater ``i``'s client address, sent as ``X-Forwarded-For`` (from the
    198.18.0.0/15 benchmarking range); a server believes it only from a proxy
    listed in ``$SANDWICH_TRUSTED_PROXIES``, else its per-address cap applies."""
    return f"198.{18 + (i >> 16) % 2}.{(i >> 8) % 256}.{i % 256}"


_STORED = ("saved", "duplicate", "timed-out")  # outcomes that mean "the label is stored"


def _comprehension_form(
    page: str, key: Mapping[str, str], careless: bool, rng: np.random.Generator
) -> dict[str, str]:
    """The comprehension answers: the right option from ``key`` (random if careless
    or the question is not in ``key``)."""
    form: dict[str, str] = {}
    for legend, body in _QUESTION.findall(page):
        options = _OPTION.findall(body)
        if not options:
            continue
        right = key.get(html.unescape(legend.strip()))
        chosen = [v for _, v, text in options if html.unescape(text.strip()) == right]
        pick = chosen[0] if chosen and not careless else options[rng.integers(len(options))][1]
        form[options[0][0]] = pick
    return form


@dataclass(frozen=True)
class _Crowd:
    """What every simulated rater of one run shares (see :func:`simulate`)."""

    study: str
    truth: Mapping[str, bool]
    skill: float
    trust: float
    think: float
    comprehension: Mapping[str, str]
    attention: Mapping[str, bool]
    careless: float
    retry_seconds: float
    deadline: float | None = None


class _Rater:
    """One simulated rater's visit: enter, start, then one page after another."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        crowd: _Crowd,
        pid: str,
        rng: np.random.Generator,
        report: SimulationReport,
    ) -> None:
        self.client, self.crowd, self.pid, self.rng, self.report = client, crowd, pid, rng, report
        self.careless = crowd.careless > 0 and bool(rng.random() < crowd.careless)  # same if 0

    async def call(self, method: str, url: str, **kw: object) -> httpx.Response:
        """One request; transport errors (server down) retried for ``retry_seconds``."""
        give_up = time.monotonic() + self.crowd.retry_seconds
        while True:
            if self.crowd.deadline is not None and time.monotonic() > self.crowd.deadline:
                raise _Stop
            try:
                return await self.client.request(method, url, **kw)  # type: ignore[arg-type]
            except httpx.TransportError as exc:
                if time.monotonic() > give_up:
                    raise SandwichError(f"{self.pid}: server unreachable: {exc!r}") from None
                await asyncio.sleep(0.2)

    async def visit(self, address: str) -> None:
        pid, crowd, entry = self.pid, self.crowd, f"/s/{self.crowd.study}/start"
        r = await self.call("GET", entry, params={"PID": pid}, headers={"X-Forwarded-For": address})
        if r.status_code != 303:
            raise SandwichError(f"{pid}: entry link answered {r.status_code}: {r.text[:200]}")
        page = r.headers["location"]
        self.report.raters_started += 1
        r = await self.call("GET", page)
        m = _CSRF.search(r.text)
        if m is None:
            raise SandwichError(f"{pid}: no start form on {page}")
        csrf = m.group(1)
        await self.call("POST", f"{page}/start", data={"csrf": csrf})
        failures, outcome = 0, ""
        while True:
            if failures > 20:
                raise SandwichError(f"{pid}: 20 submits in a row were not saved; last: {outcome}")
            r = await self.call("GET", page)
            if r.status_code != 200:
                raise SandwichError(f"{pid}: {page} answered {r.status_code}")
            if 'id="comprehension-form"' in r.text:
                form = _comprehension_form(r.text, crowd.comprehension, self.careless, self.rng)
                await self.call("POST", f"{page}/comprehension", data={"csrf": csrf, **form})
                continue
            code = _CODE.search(r.text)
            if code or 'id="failed"' in r.text or 'id="screened-out"' in r.text:
                self.report.completion_codes[pid] = code.group(1) if code else None
                self.report.raters_finished += 1
                return
            outcome = await self.answer(page, csrf, r.text)
            failures = 0 if outcome in (*_STORED, "gone") else failures + 1

    async def pause(self, seconds: float) -> None:
        """Read the item for ``seconds``; a rater still reading at the deadline leaves
        without answering (the run ends), so the load stops at the deadline instead of
        draining for the longest of the raters' remaining pauses (with 200 raters and a
        1.5 s mean, about 8 s in which fewer and fewer raters are left)."""
        deadline = self.crowd.deadline
        if deadline is not None and time.monotonic() + seconds > deadline:
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            raise _Stop
        await asyncio.sleep(seconds)

    def choose(self, statement: str, model: re.Match[str] | None) -> bool:
        """The rater's answer: random if careless, the instructed one on an attention
        check, the model's with probability ``trust``, else right with ``skill``."""
        crowd, rng = self.crowd, self.rng
        if self.careless:
            return bool(rng.random() < 0.5)
        if statement in crowd.attention:
            return crowd.attention[statement]
        if model is not None and rng.random() < crowd.trust:
            return model.group(1) == "true"
        if statement in crowd.truth:
            right = crowd.truth[statement]
            return right if rng.random() < crowd.skill else not right
        return bool(rng.random() < 0.5)

    async def answer(self, page: str, csrf: str, text: str) -> str:
        """Answer the item on the page; returns the server's outcome."""
        aid, item = _AID.search(text), _TEXT.search(text)
        if aid is None or item is None:
            raise SandwichError(f"{self.pid}: unexpected page: {text[:300]}")
        statement = html.unescape(item.group(1))
        answer = self.choose(statement, _MODEL.search(text))
        confidence = float(np.clip(self.rng.normal(0.5 + 0.4 * self.crowd.skill, 0.1), 0.5, 1.0))
        if self.crowd.think:
            await self.pause(float(self.rng.exponential(self.crowd.think)))
        form = {
            "csrf": csrf,
            "assignment_id": aid.group(1),
            "answer": "true" if answer else "false",
            "confidence": f"{confidence * 100:.0f}",
            "reason": "",
        }
        t0 = time.monotonic()
        try:
            sub = await self.client.post(f"{page}/answer", data=form)
            outcome = sub.headers.get("x-sandwich-label", f"error:http {sub.status_code}")
        except httpx.TransportError as exc:
            outcome = f"error:{type(exc).__name__}"
        self.report.labels.append(
            SimLabel(
                rater=self.pid,
                assignment=aid.group(1),
                text=statement,
                answer=answer,
                confidence=round(confidence, 2),
                confirmed=outcome in _STORED,
                outcome=outcome,
                latency=time.monotonic() - t0,
            )
        )
        return outcome


async def _simulate(
    base_url: str,
    crowd: _Crowd,
    n_raters: int,
    concurrency: int,
    duration: float | None,
    seed: int,
    pid_prefix: str,
) -> SimulationReport:
    report = SimulationReport()
    start = time.monotonic()
    crowd = replace(crowd, deadline=start + duration if duration else None)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n_raters):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    # one TLS context for every rater's client: building one per client (httpx's
    # default, loading the CA bundle) cost more CPU than a rater's requests
    tls = httpx.create_ssl_context()

    async def worker() -> None:
        while not queue.empty():
            if crowd.deadline is not None and time.monotonic() > crowd.deadline:
                return
            i = queue.get_nowait()
            rng = np.random.default_rng([seed, i])
            async with httpx.AsyncClient(
                base_url=base_url, timeout=60.0, limits=limits, follow_redirects=False, verify=tls
            ) as client:
                try:
                    pid = simulated_pid(pid_prefix, seed, i)
                    await _Rater(client, crowd, pid, rng, report).visit(simulated_address(i))
                except _Stop:
                    return
                except SandwichError as exc:
                    report.errors.append(str(exc))

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    report.wall_seconds = time.monotonic() - start
    return report


def simulate(
    base_url: str,
    study: str,
    n_raters: int = 10,
    skill: float = 0.7,
    concurrency: int = 5,
    duration: float | None = None,
    *,
    trust: float = 0.8,
    truth: Mapping[str, bool] | None = None,
    seed: int = 0,
    retry_seconds: float = 20.0,
    think: float = 0.0,
    pid_prefix: str = "sim-",
    comprehension: Mapping[str, str] | None = None,
    attention: Mapping[str, bool] | None = None,
    careless: float = 0.0,
) -> SimulationReport:
    """Run ``n_raters`` simulated raters (``concurrency`` at a time) against the
    app at ``base_url``; stop early after ``duration`` seconds if given.

    ``truth`` maps statement text to its gold answer (so that ``skill`` means
    accuracy); without it the raters guess. ``think`` is the mean pause
    (seconds) before each answer. The study must allow PID entry, and its
    per-address cap counts the raters' ``X-Forwarded-For`` addresses only when
    the server trusts this machine as a proxy (``$SANDWICH_TRUSTED_PROXIES``).
    ``comprehension`` and ``attention`` are the answer keys of the study's
    checks (:func:`sandwich.feedback.store.checks.check_keys`); ``careless`` the
    share of raters who answer everything at random.
    """
    if not 0.0 <= skill <= 1.0 or not 0.0 <= trust <= 1.0 or not 0.0 <= careless <= 1.0:
        raise SandwichError(
            f"skill, trust and careless must be in [0, 1], got {skill}, {trust}, {careless}"
        )
    crowd = _Crowd(
        study,
        dict(truth or {}),
        skill,
        trust,
        think,
        dict(comprehension or {}),
        dict(attention or {}),
        careless,
        retry_seconds,
    )
    return asyncio.run(
        _simulate(base_url.rstrip("/"), crowd, n_raters, concurrency, duration, seed, pid_prefix)
    )
