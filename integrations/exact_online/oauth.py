"""Exact Online's OAuth2 authorization-code flow, and the refresh rules that keep a connection alive.

The rules (Exact's, not ours): access tokens live 600 seconds (`expires_in` arrives as the string "600");
a refresh before 570 seconds is refused; every refresh returns a new refresh token and kills the old one;
at most 200 token calls per user per day. So a connection refreshes only when due, one refresh at a time,
and stores the new pair before using it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

import httpx
import msgspec

from integrations.base import AuthorizationError, Clock, RateLimited, RemoteError, Sleep, TransientError
from integrations.exact_online.tokens import Tokens, TokenStore, refresh_due_at
from integrations.oauth import RegisteredApp, RotatingTokenKeeper

DEFAULT_BASE_URL = "https://start.exactonline.nl"
AUTH_PATH = "/api/oauth2/auth"
TOKEN_PATH = "/api/oauth2/token"


class OAuthApp(RegisteredApp, frozen=True, kw_only=True):
    """The app as registered with Exact Online, on one country's site (`base_url`)."""

    base_url: str = DEFAULT_BASE_URL


def authorization_url(client_id: str, redirect_uri: str, state: str, *, base_url: str = DEFAULT_BASE_URL) -> str:
    """Where to send the person clicking "Connect to Exact Online"; Exact sends them back with `code` and `state`."""
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "state": state})
    return f"{base_url.rstrip('/')}{AUTH_PATH}?{query}"


async def exchange_code(app: OAuthApp, code: str, *, http: httpx.AsyncClient, clock: Clock) -> Tokens:
    return await _token_call(app, {"grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uri},
                             http=http, clock=clock)


async def refresh_tokens(app: OAuthApp, tokens: Tokens, *, http: httpx.AsyncClient, clock: Clock) -> Tokens:
    return await _token_call(app, {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
                             http=http, clock=clock)


class _TokenAnswer(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: str | int


class _TokenRefusal(msgspec.Struct):
    error: str = ""
    error_description: str = ""


async def _token_call(app: OAuthApp, form: dict[str, str], *, http: httpx.AsyncClient, clock: Clock) -> Tokens:
    sent_at = clock()
    try:
        response = await http.post(f"{app.base_url.rstrip('/')}{TOKEN_PATH}",
                                   data={**form, "client_id": app.client_id, "client_secret": app.client_secret})
    except httpx.TransportError as exc:
        # Not retried: if a refresh reached Exact, the old refresh token is already dead and a resend fails anyway.
        raise TransientError(f"token call failed: {type(exc).__name__}") from exc
    if response.status_code == 200:
        answer = msgspec.json.decode(response.content, type=_TokenAnswer)
        received_at = clock()
        return Tokens(
            access_token=answer.access_token,
            refresh_token=answer.refresh_token,
            # Refresh is due 570 s after we *received* the token, which is never before Exact issued it;
            # expiry counts from when we asked, which is never after.
            issued_at=received_at,
            expires_at=sent_at + timedelta(seconds=int(answer.expires_in)),
        )
    raise _token_error(response, clock())


def _token_error(response: httpx.Response, now: datetime) -> Exception:
    try:
        refusal = msgspec.json.decode(response.content, type=_TokenRefusal)
    except msgspec.DecodeError:
        refusal = _TokenRefusal()
    status = response.status_code
    if status == 429:
        tomorrow = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=now.tzinfo)
        return RateLimited(tomorrow, "daily limit of token calls reached")
    if status >= 500:
        return TransientError(f"token call answered HTTP {status}")
    if status == 400 or refusal.error in {"invalid_grant", "invalid_client", "unauthorized_client"}:
        return AuthorizationError(refusal.error_description or "token refused", reason=refusal.error or None)
    return RemoteError(status, refusal.error, refusal.error_description)


class TokenKeeper(RotatingTokenKeeper[Tokens]):
    """One connection's tokens (`integrations.oauth`): refreshed when due by either rule (570 s after issue, or
    30 s before `expires_in` ends: `tokens.refresh_due_at`), one refresh at a time, stored before they are used;
    shared with every other process when the store is (the service's is)."""

    def __init__(self, app: OAuthApp, store: TokenStore, *, http: httpx.AsyncClient, clock: Clock,
                 sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(store, clock=clock, due_at=refresh_due_at, sleep=sleep)
        self._app = app
        self._http = http

    async def connect(self, code: str) -> None:
        """Finish the authorization-code flow: the connection now runs under whoever authorized."""
        async with self._lock:
            await self._keep(await exchange_code(self._app, code, http=self._http, clock=self._clock))

    async def access_token(self) -> str:
        async with self._lock:
            return (await self._fresh()).access_token

    async def replace_rejected(self, rejected: str) -> str:
        """The API refused `rejected` (401): refresh, unless another caller already has."""
        async with self._lock:
            return (await self._replaced(rejected)).access_token

    async def _refreshed(self, tokens: Tokens) -> Tokens:
        return await refresh_tokens(self._app, tokens, http=self._http, clock=self._clock)
