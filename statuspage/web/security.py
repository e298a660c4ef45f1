"""Litestar's side of auth.py: who is calling (bearer token or console session) and guards per role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from statuspage.core import storage
from statuspage.core.addresses import client_address
from statuspage.core.auth import SESSION_COOKIE, Identity, Role, bearer_token, digest
from statuspage.core.settings import Settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _identity(row: storage.Row | None) -> Identity | None:
    return None if row is None else Identity(row["id"], row["name"], Role(row["role"]))


class _EveryMethod(AbstractAuthenticationMiddleware):
    """Authenticates every method, OPTIONS included (Litestar skips OPTIONS by default, which left the role
    guards without a user to look at: a 500)."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        super().__init__(app, **{"exclude_http_methods": (), **options})


class BearerTokenAuthentication(_EveryMethod):
    """The JSON API: `Authorization: Bearer <token>` on every request, or 401."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        token = bearer_token(connection.headers.get("authorization"))
        if token is None:
            raise NotAuthorizedException(
                "this API needs 'Authorization: Bearer <token>'; make a token with 'statuspage token create'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        # Middleware gets no dependency injection (it runs before a handler is chosen): the store from the app state.
        identity = _identity(await connection.app.state.store.read(storage.token_by_hash, digest(token)))
        if identity is None:
            raise NotAuthorizedException("the bearer token is unknown or revoked", headers={"WWW-Authenticate": "Bearer"})
        return AuthenticationResult(user=identity, auth=None)


class ConsoleSessionAuthentication(_EveryMethod):
    """The console: a session cookie. Pages without one send the visitor to sign in; changes get 401."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        session = connection.cookies.get(SESSION_COOKIE)
        identity = None
        if session:
            # Middleware gets no dependency injection (it runs before a handler is chosen): the clock and the store
            # from the app state.
            now = connection.app.state.clock()
            identity = _identity(await connection.app.state.store.read(storage.token_by_session, digest(session), now))
        if (identity is None and connection.scope.get("method") not in SAFE_METHODS
                and connection.scope["path"] != "/console/sign-in"):
            raise NotAuthorizedException("sign in to the console first")
        return AuthenticationResult(user=identity, auth=session)


def client_of(connection: ASGIConnection, settings: Settings) -> str:
    """The calling client's address, for per-client limits: X-Forwarded-For only from a configured proxy."""
    return client_address(connection.client.host if connection.client else None,
                          connection.headers.get("x-forwarded-for"), settings.server.trusted_proxies)


def requires(*roles: Role) -> Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]:
    """A guard: the caller's role must allow one of `roles` (admin > operator > viewer; client apart).

    Several roles for routes both the invoice product and staff use (each then sees what is theirs).
    """

    # Async, so that Litestar does not hand this check to a worker thread.
    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        identity: Identity | None = connection.scope.get("user")
        if identity is None:
            raise NotAuthorizedException("sign in first")
        if not any(identity.role.allows(role) for role in roles):
            needed = " or ".join(role.value for role in roles)
            raise PermissionDeniedException(f"this needs the {needed} role; {identity.name!r} has {identity.role.value}")

    return guard
