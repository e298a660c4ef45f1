"""OAuth2 tokens of one connection, and where the service keeps them.

Exact Online rotates the refresh token on every refresh and kills the old one at once, so a token pair that
was received but not stored is a connection lost: the store saves new tokens before anyone uses them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

import msgspec

REFRESH_NOT_BEFORE = timedelta(seconds=570)
"""Exact refuses a refresh (401 "Access token not expired") until an access token is 570 seconds old."""


class Tokens(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    issued_at: datetime
    expires_at: datetime

    @property
    def refresh_due_at(self) -> datetime:
        return self.issued_at + REFRESH_NOT_BEFORE

    def __repr__(self) -> str:
        # Tokens end up in tracebacks and debug logs; only their times may.
        return (f"Tokens(access_token=<redacted>, refresh_token=<redacted>, "
                f"issued_at={self.issued_at.isoformat()}, expires_at={self.expires_at.isoformat()})")

    __str__ = __repr__


class TokenStore(Protocol):
    """Provided by the service: where one connection's tokens survive restarts."""

    async def load(self) -> Tokens | None: ...

    async def save(self, tokens: Tokens) -> None: ...


class InMemoryTokenStore:
    """Tokens kept for this process only: for the sandbox demo and tests, never for a real connection."""

    def __init__(self, tokens: Tokens | None = None) -> None:
        self.tokens = tokens

    async def load(self) -> Tokens | None:
        return self.tokens

    async def save(self, tokens: Tokens) -> None:
        self.tokens = tokens
