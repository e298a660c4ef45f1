"""Who may do what: API tokens, roles, console sessions, and the limit on failed sign-ins.

A token is shown once, when it is made, and stored only as its SHA-256: tokens are long random
strings, so a fast hash is enough, and a stolen database holds no usable credential. The JSON API
takes `Authorization: Bearer <token>` and nothing else, so cross-site requests cannot ride on a
cookie; the console signs in with a token once and then uses a session cookie, with CSRF
protection on every form.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

TOKEN_PREFIX = "sp_"
SESSION_COOKIE = "statuspage_session"
SESSION_LIFETIME = timedelta(hours=12)


_TOKEN_NAME = re.compile(r"[\w.@-]+")  # whole: a pattern's `$` would let a final newline through
TOKEN_NAME_MAX = 100
TOKEN_NAME_RULE = f"1-{TOKEN_NAME_MAX} letters, digits and _ . @ - (no spaces), like alice or invoice-product"


def token_name_problem(name: str) -> str | None:
    """What is wrong with `name` as a token's name, or None when it is fine: who or what uses it (alice,
    invoice-product, a.jansen@example.com), 1-100 letters, digits and `_ . @ -`. The one rule for the API
    (`TokenCreate`) and the command line (`operations.create_token`)."""
    if not 1 <= len(name) <= TOKEN_NAME_MAX or _TOKEN_NAME.fullmatch(name) is None:
        return f"a token's name is {TOKEN_NAME_RULE}; got {name!r}"
    return None


class Role(enum.StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    # The invoice product's machine client: it hands in invoice actions and nothing else.
    CLIENT = "client"

    def allows(self, needed: Role) -> bool:
        if self is Role.CLIENT or needed is Role.CLIENT:
            return self is needed
        return _STAFF_ORDER.index(self) >= _STAFF_ORDER.index(needed)


_STAFF_ORDER = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]


@dataclass(frozen=True)
class Identity:
    token_id: int
    name: str
    role: Role


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class SignInLimiter:
    """At most `attempts` failed sign-ins per client within `window`; then wait.

    Kept in memory: the service runs one process, and a restart forgetting the count is fine.
    """

    def __init__(self, attempts: int = 5, window: timedelta = timedelta(minutes=5)) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)

    def retry_after(self, client: str, now: datetime) -> float:
        """Seconds the client must wait before trying again; 0 when it may try now."""
        failures = self._failures[client]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.attempts:
            if not failures:
                del self._failures[client]
            return 0.0
        return (failures[0] + self.window - now).total_seconds()

    def failed(self, client: str, now: datetime) -> None:
        """Count a failure against `client`. Only time clears it: a success (this client's or anyone's behind
        the same proxy) does not, or a valid low-privilege token would buy unlimited guesses."""
        self._failures[client].append(now)

    def spend(self, client: str, now: datetime) -> float:
        """For limits on every request (not only failures): 0 and counted when `client` may go on now, else
        the seconds to wait (not counted)."""
        wait = self.retry_after(client, now)
        if wait == 0:
            self.failed(client, now)
        return wait
