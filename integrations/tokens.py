"""OAuth2 tokens of one connection, and where the service keeps them, for every system that signs in with an
authorization code and rotating refresh tokens (Exact Online, Twinfield).

Both rotate the refresh token on a refresh and kill the old one at once, so a token pair that was received but not
stored is a connection lost: the store saves new tokens before anyone uses them. The stored shape (access token,
refresh token, when issued, when it expires) is the same for both; when a refresh is due is each system's rule
(`integrations.exact_online.tokens.refresh_due_at`, Twinfield's `refresh_margin` before `expires_at`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Protocol

import msgspec

from integrations.registry import CredentialStore


class Tokens(msgspec.Struct, frozen=True, kw_only=True):
    """One connection's pair; `issued_at` when we received it, `expires_at` when its access token ends (aware)."""

    access_token: str
    refresh_token: str
    issued_at: datetime
    expires_at: datetime

    def __repr__(self) -> str:
        # Tokens end up in tracebacks and debug logs; only their times may.
        return (f"Tokens(access_token=<redacted>, refresh_token=<redacted>, "
                f"issued_at={self.issued_at.isoformat()}, expires_at={self.expires_at.isoformat()})")

    __str__ = __repr__


class TokenStore(Protocol):
    """Provided by the service: where one connection's tokens survive restarts, shared by its processes."""

    async def load(self) -> Tokens | None: ...

    async def save(self, tokens: Tokens) -> None:
        """Store unconditionally (a new connection)."""
        ...

    async def replace(self, previous: Tokens, tokens: Tokens) -> bool:
        """Store `tokens` only if the stored refresh token is still `previous`'s; False when another process
        rotated it (or reconnected) first."""
        ...

    async def claim_refresh(self) -> bool:
        """One refresh at a time across every process sharing the store; False while another holds the claim."""
        ...

    async def release_refresh(self) -> None: ...


def guard_of(tokens: Tokens) -> str:
    """What a rotated pair is compared on: a fingerprint of its refresh token, never the token itself."""
    return hashlib.sha256(tokens.refresh_token.encode()).hexdigest()[:32]


class SharedTokenStore:
    """Tokens kept as text in the service's `CredentialStore`, compare-and-set on the refresh token."""

    def __init__(self, credentials: CredentialStore) -> None:
        self._credentials = credentials

    async def load(self) -> Tokens | None:
        text = await self._credentials.load()
        return None if text is None else msgspec.json.decode(text, type=Tokens)

    async def save(self, tokens: Tokens) -> None:
        await self._credentials.save(msgspec.json.encode(tokens).decode(), guard_of(tokens))

    async def replace(self, previous: Tokens, tokens: Tokens) -> bool:
        return await self._credentials.replace(guard_of(previous), msgspec.json.encode(tokens).decode(),
                                               guard_of(tokens))

    async def claim_refresh(self) -> bool:
        return await self._credentials.claim_refresh()

    async def release_refresh(self) -> None:
        await self._credentials.release_refresh()


class InMemoryTokenStore:
    """Tokens kept for this process only: for the sandbox demo and tests, never for a real connection."""

    def __init__(self, tokens: Tokens | None = None) -> None:
        self.tokens = tokens

    async def load(self) -> Tokens | None:
        return self.tokens

    async def save(self, tokens: Tokens) -> None:
        self.tokens = tokens

    async def replace(self, previous: Tokens, tokens: Tokens) -> bool:
        if self.tokens is not None and self.tokens.refresh_token != previous.refresh_token:
            return False
        await self.save(tokens)
        return True

    async def claim_refresh(self) -> bool:
        return True  # one process: the keeper's own lock serialises its refreshes

    async def release_refresh(self) -> None:
        pass
