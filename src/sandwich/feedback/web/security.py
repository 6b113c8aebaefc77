"""Passwords (argon2), CSRF tokens and the login throttle.

Researcher passwords are stored as argon2id hashes (``argon2-cffi``); a
password change bumps the researcher's session version, which ends every
session they had. Rater forms carry an HMAC of the rater's token under the
server secret; researcher forms carry a random token kept in the signed
session cookie. Either way a page on another site cannot produce a valid
form. :class:`LoginThrottle` slows guessing down with growing delays.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sandwich.errors import ConfigError
from sandwich.feedback.store.db import Researcher

_HASHER = PasswordHasher()
MIN_PASSWORD = 10
MAX_USERNAME = 64


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# a real hash to verify against when the username is unknown, so that the time
# a failed login takes does not tell whether the username exists
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def set_researcher(s: Session, username: str, password: str) -> Researcher:
    """Create the researcher or change their password (which ends every
    session they have open: the session version is bumped)."""
    if not username or len(username) > MAX_USERNAME:
        raise ConfigError(f"researcher username must be 1 to {MAX_USERNAME} characters")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"researcher password must be at least {MIN_PASSWORD} characters")
    found = s.scalar(select(Researcher).where(Researcher.username == username))
    if found is None:
        found = Researcher(username=username, password_hash=hash_password(password))
        s.add(found)
    else:
        found.password_hash = hash_password(password)
        found.session_version = (found.session_version or 0) + 1
    s.flush()
    return found


def authenticate(s: Session, username: str, password: str) -> Researcher | None:
    found = s.scalar(select(Researcher).where(Researcher.username == username))
    if found is None:
        verify_password(_DUMMY_HASH, password)
        return None
    return found if verify_password(found.password_hash, password) else None


def rater_csrf(secret: str, rater_token: str) -> str:
    return hmac.new(secret.encode(), f"rater:{rater_token}".encode(), hashlib.sha256).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


@dataclass(eq=False)
class LoginThrottle:
    """Growing delays after failed logins, per (username, client address) and
    per client address (kept in memory: per server process).

    :meth:`attempt` reserves an attempt *before* the slow password hash and
    counts it as a failure at once, so concurrent guesses cannot all slip
    through one check; :meth:`succeeded` takes the reservation back. The
    first ``free_per_user`` failures of a (username, address) pair and the
    first ``free_per_address`` failures of an address cost nothing; after
    that each further attempt must wait ``base_delay * 2**k`` seconds (k =
    failures past the free ones, at most ``max_delay``) after the previous
    one. Nothing locks an account: a guesser at another address does not
    slow the researcher down. Entries idle for ``forget_after`` seconds are
    dropped, and at most ``max_entries`` are kept (the oldest go first).
    Callers must cap the username's length first (:data:`MAX_USERNAME`).
    """

    free_per_user: int = 5
    free_per_address: int = 20
    base_delay: float = 1.0
    max_delay: float = 900.0
    forget_after: float = 3600.0
    max_entries: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, ...], _Failures] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _last_prune: float = field(default=-math.inf, init=False, repr=False)

    def _keys(self, username: str | None, address: str) -> list[tuple[tuple[str, ...], int]]:
        keys: list[tuple[tuple[str, ...], int]] = [(("addr", address), self.free_per_address)]
        if username is not None:
            keys.append((("user", username, address), self.free_per_user))
        return keys

    def _wait(self, key: tuple[str, ...], free: int, now: float) -> float:
        found = self._entries.get(key)
        if found is None or found.n < free:
            return 0.0
        delay = min(self.max_delay, self.base_delay * 2.0 ** min(found.n - free, 60))
        return max(0.0, found.last + delay - now)

    def attempt(self, username: str | None, address: str) -> float:
        """Reserve one login attempt: 0.0 if it may go ahead (it counts as a
        failure until :meth:`succeeded`), else the seconds left to wait (the
        refused attempt is not counted)."""
        if username is not None and len(username) > MAX_USERNAME:
            raise ValueError(f"username longer than {MAX_USERNAME} characters")
        with self._lock:
            now = self.clock()
            self._prune(now)
            keys = self._keys(username, address)
            wait = max(self._wait(k, free, now) for k, free in keys)
            if wait > 0:
                return wait
            for k, _ in keys:
                found = self._entries.setdefault(k, _Failures())
                found.n += 1
                found.last = now
            return 0.0

    def succeeded(self, username: str, address: str) -> None:
        """The reserved attempt was right: forget the pair's failures and give
        the address its reservation back."""
        with self._lock:
            self._entries.pop(("user", username, address), None)
            found = self._entries.get(("addr", address))
            if found is not None:
                found.n = max(0, found.n - 1)

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[tuple[str, ...]]:
        with self._lock:
            return list(self._entries)

    def _prune(self, now: float) -> None:
        # an attempt adds at most two entries: prune before that could pass the cap
        if len(self._entries) + 2 <= self.max_entries and now - self._last_prune < 60.0:
            return
        self._last_prune = now
        horizon = max(self.forget_after, self.max_delay)
        self._entries = {k: v for k, v in self._entries.items() if now - v.last < horizon}
        if len(self._entries) + 2 > self.max_entries:
            newest = sorted(self._entries.items(), key=lambda kv: kv[1].last, reverse=True)
            self._entries = dict(newest[: self.max_entries // 2])


@dataclass
class _Failures:
    n: int = 0
    last: float = -math.inf
