"""The OAuth2 client pieces every connector shares: the registered app, and the keeper of one connection's tokens.

`RegisteredApp` is the app as registered with the accounting system (client id, secret, redirect URI); each
system's `OAuthApp` adds where it signs in (Exact's `base_url`, Twinfield's `login_url`). Its repr never shows the
client secret.

`RotatingTokenKeeper` keeps one connection's tokens alive when the refresh token rotates. Both Exact Online and
Twinfield answer a refresh with a new refresh token and kill the old one, so:
- a refresh runs only when due (the system's rule, passed in as `due_at`), and one at a time per connection:
  callers wait on one lock, and whoever comes second uses the first one's result;
- the new pair is stored before it is used, and held in memory until the store took it, so a failing store is
  retried rather than losing the only live pair;
- a token the API refused (401) is replaced by a refresh, unless another caller already replaced it.

The refresh rules differ and stay with each system: Exact's access tokens may be refreshed only from 570 s after
issue (`integrations.exact_online.tokens.Tokens.refresh_due_at`); Twinfield's at any time, so its keeper
refreshes a margin before expiry (`TwinfieldSettings.refresh_margin`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Generic, Protocol, TypeVar

import msgspec

from integrations.base import AuthorizationError, Clock


class RegisteredApp(msgspec.Struct, frozen=True, kw_only=True):
    """The app as registered with the accounting system; a subclass adds the system's sign-in address."""

    client_id: str
    client_secret: str
    redirect_uri: str

    def __repr__(self) -> str:
        # Apps end up in tracebacks and debug logs; their secret may not.
        shown = (f"{name}=<redacted>" if name == "client_secret" else f"{name}={getattr(self, name)!r}"
                 for name in self.__struct_fields__)
        return f"{type(self).__name__}({', '.join(shown)})"

    __str__ = __repr__


class _Tokens(Protocol):
    @property
    def access_token(self) -> str: ...


T = TypeVar("T", bound=_Tokens)


class _Store(Protocol[T]):
    async def load(self) -> T | None: ...

    async def save(self, tokens: T) -> None: ...


class RotatingTokenKeeper(Generic[T]):
    """The shared core of a connection's token keeper. A subclass makes the system's refresh call
    (`_refreshed`) and offers its public methods, each holding `self._lock` while it calls `_fresh`,
    `_replaced` or `_keep`."""

    def __init__(self, store: _Store[T], *, clock: Clock, due_at: Callable[[T], datetime]) -> None:
        self._store = store
        self._clock = clock
        self._due_at = due_at
        self._tokens: T | None = None
        self._unsaved: T | None = None
        # While one caller refreshes, the others wait for its result instead of spending the same refresh token.
        self._lock = asyncio.Lock()

    async def _refreshed(self, tokens: T) -> T:
        """The system's refresh call for `tokens`: the new pair."""
        raise NotImplementedError

    async def _fresh(self) -> T:
        """The tokens in force, refreshed first when `due_at` has come (by `clock`)."""
        tokens = await self._current()
        if self._clock() >= self._due_at(tokens):
            tokens = await self._refresh(tokens)
        return tokens

    async def _replaced(self, rejected: str) -> T:
        """The tokens in force after the API refused the access token `rejected`: refreshed, unless another caller
        already has (the access token in force is no longer `rejected`)."""
        tokens = await self._current()
        if tokens.access_token == rejected:
            tokens = await self._refresh(tokens)
        return tokens

    async def _refresh(self, tokens: T) -> T:
        fresh = await self._refreshed(tokens)
        await self._keep(fresh)
        return fresh

    async def _keep(self, tokens: T) -> None:
        # Held in memory until stored, so a failing store is retried rather than losing the only live pair.
        self._unsaved = tokens
        await self._store.save(tokens)
        self._tokens, self._unsaved = tokens, None

    async def _current(self) -> T:
        if self._unsaved is not None:
            await self._keep(self._unsaved)
        if self._tokens is None:
            self._tokens = await self._store.load()
        if self._tokens is None:
            raise AuthorizationError("not connected: no tokens stored for this connection")
        return self._tokens
