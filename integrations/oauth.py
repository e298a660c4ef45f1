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

A store shared by several processes (the service's database; it offers `replace`, `claim_refresh` and
`release_refresh`, `SharedTokenStore`) makes the keeper share the connection with them:
- the tokens are read from the store before every call, so a pair another process rotated, or a reconnect
  under another user, is used from the next call on;
- a refresh is claimed in the store first (one refresh at a time across processes), the tokens are read again
  once claimed (another process may just have rotated them), and the new pair is written with a
  compare-and-set on the refresh token it replaced;
- a refresh the system refuses (the refresh token already used, or "not expired" because another process just
  refreshed) is answered from the store when another process's pair is there; only without one is the
  connection lost.

The refresh rules differ and stay with each system: Exact's access tokens may be refreshed only from 570 s after
issue (`integrations.exact_online.tokens.refresh_due_at`); Twinfield's at any time, so its keeper
refreshes a margin before expiry (`TwinfieldSettings.refresh_margin`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Generic, Protocol, TypeVar

import msgspec

from integrations.base import AuthorizationError, Clock, RemoteError, Sleep, TransientError


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

    @property
    def refresh_token(self) -> str: ...


T = TypeVar("T", bound=_Tokens)


class _Store(Protocol[T]):
    async def load(self) -> T | None: ...

    async def save(self, tokens: T) -> None: ...


class SharedTokenStore(_Store[T], Protocol[T]):
    """A store several processes share (see the module's docstring)."""

    async def replace(self, previous: T, tokens: T) -> bool:
        """Store `tokens` only while the stored pair is still `previous` (its refresh token); False otherwise."""
        ...

    async def claim_refresh(self) -> bool:
        """Take the one right, across processes and for a short while, to refresh; False while another has it."""
        ...

    async def release_refresh(self) -> None: ...


CLAIM_POLL = 0.1
"""Seconds between looks while another process holds the refresh claim."""
CLAIM_PATIENCE = 35.0
"""Seconds to wait for another process's refresh before giving up for now (a claim lasts 30 s)."""
ROTATION_SETTLES = (0.05, 0.2, 0.5, 1.0)
"""Seconds to wait, one after another, for another process's rotated pair to reach the store after the system
refused our refresh."""


class RotatingTokenKeeper(Generic[T]):
    """The shared core of a connection's token keeper. A subclass makes the system's refresh call
    (`_refreshed`) and offers its public methods, each holding `self._lock` while it calls `_fresh`,
    `_replaced` or `_keep`."""

    def __init__(self, store: _Store[T], *, clock: Clock, due_at: Callable[[T], datetime],
                 sleep: Sleep = asyncio.sleep) -> None:
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self._due_at = due_at
        self._tokens: T | None = None
        self._unsaved: T | None = None
        self._shared = hasattr(store, "replace")
        self._unsaved_swap: tuple[T, T] | None = None
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
        if self._shared:
            return await self._refresh_shared(tokens)
        fresh = await self._refreshed(tokens)
        await self._keep(fresh)
        return fresh

    async def _refresh_shared(self, tokens: T) -> T:
        store: SharedTokenStore[T] = self._store  # type: ignore[assignment]
        if not hasattr(store, "claim_refresh"):  # a store shared without claims: the compare-and-set alone
            return await self._refresh_claimed(tokens)
        waited = 0.0
        while not await store.claim_refresh():
            # Another process is refreshing this connection: wait for its pair rather than spend ours twice.
            await self._sleep(CLAIM_POLL)
            waited += CLAIM_POLL
            stored = await store.load()
            if stored is not None and stored.refresh_token != tokens.refresh_token:
                return stored
            if waited > CLAIM_PATIENCE:
                raise TransientError("another process has been refreshing this connection's tokens for too long")
        try:
            stored = await store.load()
            if stored is not None and stored.refresh_token != tokens.refresh_token:
                return stored  # rotated by another process just before we claimed the refresh
            return await self._refresh_claimed(tokens)
        finally:
            await store.release_refresh()

    async def _refresh_claimed(self, tokens: T) -> T:
        """Refresh `tokens` (the claim held) and store the new pair in their place."""
        try:
            fresh = await self._refreshed(tokens)
        except (AuthorizationError, RemoteError) as refused:
            return await self._rotated_elsewhere(tokens, refused)
        self._unsaved_swap = (tokens, fresh)
        await self._store_swap()
        return await self._current()

    async def _rotated_elsewhere(self, tokens: T, refusal: Exception) -> T:
        for wait in (0.0, *ROTATION_SETTLES):
            if wait:
                await self._sleep(wait)
            stored = await self._store.load()
            if stored is not None and stored.refresh_token != tokens.refresh_token:
                return stored
        raise refusal

    async def _store_swap(self) -> None:
        # Held in memory until stored, so a failing store is retried rather than losing the only live pair.
        assert self._unsaved_swap is not None
        previous, fresh = self._unsaved_swap
        store: SharedTokenStore[T] = self._store  # type: ignore[assignment]
        await store.replace(previous, fresh)  # lost to a reconnect meanwhile: the store's pair wins
        self._unsaved_swap = None

    async def _keep(self, tokens: T) -> None:
        # Held in memory until stored, so a failing store is retried rather than losing the only live pair.
        self._unsaved = tokens
        await self._store.save(tokens)
        self._tokens, self._unsaved = tokens, None

    async def _current(self) -> T:
        if self._unsaved is not None:
            await self._keep(self._unsaved)
        if self._unsaved_swap is not None:
            await self._store_swap()
        if self._tokens is None or self._shared:
            self._tokens = await self._store.load()
        if self._tokens is None:
            raise AuthorizationError("not connected: no tokens stored for this connection")
        return self._tokens
