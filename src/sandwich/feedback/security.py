"""Passwords (argon2) and CSRF tokens.

Researcher passwords are stored as argon2id hashes (``argon2-cffi``). Rater
forms carry an HMAC of the rater's token under the server secret; researcher
forms carry a random token kept in the signed session cookie. Either way a
page on another site cannot produce a valid form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sandwich.errors import ConfigError
from sandwich.feedback.db import Researcher

_HASHER = PasswordHasher()
MIN_PASSWORD = 10


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
    """Create the researcher or change their password."""
    if not username or len(username) > 64:
        raise ConfigError("researcher username must be 1 to 64 characters")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"researcher password must be at least {MIN_PASSWORD} characters")
    found = s.scalar(select(Researcher).where(Researcher.username == username))
    if found is None:
        found = Researcher(username=username, password_hash=hash_password(password))
        s.add(found)
    else:
        found.password_hash = hash_password(password)
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


class LoginThrottle:
    """At most ``max_failures`` failed logins per username in ``window`` seconds;
    past that, every attempt for that username is refused until the window
    has passed (kept in memory: per server process)."""

    def __init__(self, max_failures: int = 5, window: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        self._failures[key] = times
        return times

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key, time.monotonic())) >= self.max_failures

    def failed(self, key: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
