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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from statuspage.core import storage
from statuspage.core.storage import Store

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


def wait_after(hits: Sequence[datetime], now: datetime, attempts: int, window: timedelta) -> float:
    """Seconds a client must wait, given the moments it was counted (oldest first): 0 while fewer than
    `attempts` of them lie within `window` before `now`, else until enough have left the window."""
    recent = [hit for hit in hits if hit > now - window]
    if len(recent) < attempts:
        return 0.0
    return (recent[-attempts] + window - now).total_seconds()


class Limiter:
    """At most `attempts` counted per client within `window`; then wait (`name` tells the limits apart).

    The counts are kept in the database, so every web worker of `serve --workers N` counts against the same
    limit, and a restart forgets nothing (issue 15). Used for failed console sign-ins (5 per 5 minutes) and
    e-mail subscriptions (5 an hour).
    """

    def __init__(self, store: Store, name: str, attempts: int = 5, window: timedelta = timedelta(minutes=5)) -> None:
        self.store, self.name, self.attempts, self.window = store, name, attempts, window

    async def retry_after(self, client: str, now: datetime) -> float:
        """Seconds the client must wait before trying again; 0 when it may try now."""
        hits = await self.store.read(storage.limit_hits, self.name, client, now - self.window)
        return wait_after(hits, now, self.attempts, self.window)

    async def failed(self, client: str, now: datetime) -> None:
        """Count a failure against `client`. Only time clears it: a success (this client's or anyone's behind
        the same proxy) does not, or a valid low-privilege token would buy unlimited guesses."""
        await self.store.write(storage.add_limit_hit, self.name, client, now, now - self.window)

    async def spend(self, client: str, now: datetime) -> float:
        """For limits on every request (not only failures): 0 and counted when `client` may go on now, else
        the seconds to wait (not counted). Looked up and counted in one write transaction: two workers
        cannot both let the last one through."""

        def spend(db) -> float:
            wait = wait_after(storage.limit_hits(db, self.name, client, now - self.window), now, self.attempts,
                              self.window)
            if wait == 0:
                storage.add_limit_hit(db, self.name, client, now, now - self.window)
            return wait

        return await self.store.write(spend)
