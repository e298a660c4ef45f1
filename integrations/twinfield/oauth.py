"""Signing in to Twinfield: OpenID Connect at Twinfield's identity server, and the session every call runs in.

Twinfield's rules (its web-services documentation, "Authentication / OpenID Connect"):
- Authorization code flow at `{login}/auth/authentication/connect/authorize` with the scopes `openid`,
  `twf.user`, `twf.organisation`, `twf.organisationUser` (mandatory to log in) and `offline_access` (for a refresh
  token), plus a random `nonce`. The token endpoint `{login}/auth/authentication/connect/token` takes the client's
  credentials as HTTP Basic authentication.
- Access tokens live an hour (`expires_in`, seconds). A refresh answers a new access token and, when the identity
  server rotates it, a new refresh token: the old one is then dead, so the pair is stored before it is used, and
  only one refresh runs at a time per connection.
- `{login}/auth/authentication/connect/accesstokenvalidation?token=...` answers, for a valid token, its claims as
  JSON, among them `twf.clusterUrl` (where the organisation's web services live: every SOAP call goes there) and
  `twf.organisationId`; for an invalid or expired token it answers 400.
- `{login}/auth/authentication/connect/userinfo` (bearer) answers the user's OpenID claims (`sub`, `name`, ...).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec

from integrations.base import AuthorizationError, Clock, RateLimited, RemoteError, TransientError
from integrations.oauth import RegisteredApp, RotatingTokenKeeper
from integrations.tokens import Tokens, TokenStore
from integrations.twinfield.settings import DEFAULT_LOGIN_URL

CONNECT_PATH = "/auth/authentication/connect"
AUTHORIZE_PATH = f"{CONNECT_PATH}/authorize"
TOKEN_PATH = f"{CONNECT_PATH}/token"
VALIDATION_PATH = f"{CONNECT_PATH}/accesstokenvalidation"
USERINFO_PATH = f"{CONNECT_PATH}/userinfo"
SCOPES = ("openid", "twf.user", "twf.organisation", "twf.organisationUser", "offline_access")
"""`twf.organisationUser` is needed to log in at all, `twf.organisation` for the cluster URL, `offline_access` for
a refresh token (Twinfield's scope list)."""


class OAuthApp(RegisteredApp, frozen=True, kw_only=True):
    """The app as registered with Twinfield (its developer portal), and the identity server it signs in at."""

    login_url: str = DEFAULT_LOGIN_URL


@dataclass(frozen=True)
class Session:
    """What the validation of one access token says: where to call and for which organisation.

    `cluster_url` is `twf.clusterUrl` (e.g. `https://accounting.twinfield.com`); `organisation_id` the
    organisation's GUID, the unit of Twinfield's concurrency and credit limits."""

    access_token: str
    cluster_url: str
    organisation_id: str
    organisation_code: str
    user_code: str
    subject: str

    def __repr__(self) -> str:
        return (f"Session(access_token=<redacted>, cluster_url={self.cluster_url!r}, "
                f"organisation_code={self.organisation_code!r}, user_code={self.user_code!r})")


def authorization_url(
    client_id: str, redirect_uri: str, state: str, *, nonce: str | None = None, login_url: str = DEFAULT_LOGIN_URL
) -> str:
    """Where to send the person clicking "Connect to Twinfield". Twinfield sends them back to `redirect_uri` with
    `code` and `state`. `nonce` (random when not given) is required by Twinfield's identity server."""
    query = urlencode({
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "state": state,
        "nonce": nonce or secrets.token_urlsafe(16),
    })
    return f"{login_url.rstrip('/')}{AUTHORIZE_PATH}?{query}"


async def exchange_code(app: OAuthApp, code: str, *, http: httpx.AsyncClient, clock: Clock) -> Tokens:
    """Trade the authorization code for tokens. Raises `AuthorizationError` (code refused), `TransientError`,
    `RateLimited`, `RemoteError`."""
    return await _token_call(app, {"grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uri},
                             None, http=http, clock=clock)


async def refresh_tokens(app: OAuthApp, tokens: Tokens, *, http: httpx.AsyncClient, clock: Clock) -> Tokens:
    """A new access token for the refresh token. The answer's refresh token replaces the old one when present;
    otherwise the old one stays valid and is kept."""
    return await _token_call(app, {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
                             tokens.refresh_token, http=http, clock=clock)


async def validate(login_url: str, access_token: str, *, http: httpx.AsyncClient) -> Session | None:
    """The access token's claims, or None when Twinfield calls it invalid or expired (400/401)."""
    try:
        response = await http.get(f"{login_url.rstrip('/')}{VALIDATION_PATH}", params={"token": access_token})
    except httpx.TransportError as exc:
        raise TransientError(f"access token validation failed: {type(exc).__name__}") from exc
    if response.status_code in (400, 401):
        return None
    if response.status_code != 200:
        raise _http_error("access token validation", response)
    claims: dict[str, Any] = msgspec.json.decode(response.content)
    try:
        return Session(
            access_token=access_token,
            cluster_url=str(claims["twf.clusterUrl"]).rstrip("/"),
            organisation_id=str(claims["twf.organisationId"]),
            organisation_code=str(claims.get("twf.organisationCode", "")),
            user_code=str(claims.get("twf.organisationUserCode", "")),
            subject=str(claims.get("sub", "")),
        )
    except KeyError as exc:
        raise RemoteError(200, "", f"the validation answer lacks {exc.args[0]} (scope twf.organisation missing?)") \
            from None


async def userinfo(login_url: str, access_token: str, *, http: httpx.AsyncClient) -> dict[str, Any]:
    """The signed-in user's OpenID claims (`sub`, `name`, `twf.organisationUserCode`, ...)."""
    try:
        response = await http.get(f"{login_url.rstrip('/')}{USERINFO_PATH}",
                                  headers={"Authorization": f"Bearer {access_token}"})
    except httpx.TransportError as exc:
        raise TransientError(f"userinfo failed: {type(exc).__name__}") from exc
    if response.status_code == 401:
        raise AuthorizationError("userinfo refused the access token")
    if response.status_code != 200:
        raise _http_error("userinfo", response)
    claims: dict[str, Any] = msgspec.json.decode(response.content)
    return claims


class _TokenAnswer(msgspec.Struct):
    access_token: str
    expires_in: int | str
    refresh_token: str | None = None


class _TokenRefusal(msgspec.Struct):
    error: str = ""
    error_description: str = ""


async def _token_call(
    app: OAuthApp, form: dict[str, str], old_refresh_token: str | None, *, http: httpx.AsyncClient, clock: Clock
) -> Tokens:
    basic = base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()
    sent_at = clock()
    try:
        response = await http.post(f"{app.login_url.rstrip('/')}{TOKEN_PATH}", data=form,
                                   headers={"Authorization": f"Basic {basic}"})
    except httpx.TransportError as exc:
        # Not retried: if a refresh reached Twinfield and it rotates, the old refresh token is dead already.
        raise TransientError(f"token call failed: {type(exc).__name__}") from exc
    if response.status_code == 200:
        answer = msgspec.json.decode(response.content, type=_TokenAnswer)
        refresh_token = answer.refresh_token or old_refresh_token
        if refresh_token is None:
            raise AuthorizationError("no refresh token received: the app must ask for the offline_access scope")
        return Tokens(access_token=answer.access_token, refresh_token=refresh_token, issued_at=clock(),
                      # Expiry counts from when we asked, which is never after Twinfield issued the token.
                      expires_at=sent_at + timedelta(seconds=int(answer.expires_in)))
    try:
        refusal = msgspec.json.decode(response.content, type=_TokenRefusal)
    except (msgspec.DecodeError, msgspec.ValidationError):
        refusal = _TokenRefusal()
    if response.status_code == 429:
        raise RateLimited(clock() + timedelta(seconds=_seconds(response.headers.get("Retry-After"), 60)),
                          "token calls limited")
    if response.status_code >= 500:
        raise TransientError(f"token call answered HTTP {response.status_code}")
    if response.status_code in (400, 401) or refusal.error in {"invalid_grant", "invalid_client"}:
        raise AuthorizationError(refusal.error_description or "token refused", reason=refusal.error or None)
    raise RemoteError(response.status_code, refusal.error, refusal.error_description)


def _http_error(what: str, response: httpx.Response) -> Exception:
    if response.status_code >= 500:
        return TransientError(f"{what} answered HTTP {response.status_code}")
    return RemoteError(response.status_code, "", f"{what}: {response.text[:200]}")


def _seconds(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


class TokenKeeper(RotatingTokenKeeper[Tokens]):
    """One connection's tokens and session (`integrations.oauth`): refreshed `refresh_margin` seconds
    before they expire (Twinfield allows a refresh at any time), one refresh at a time, stored before use.

    `session()` gives a validated access token with its cluster and organisation; `replace_rejected(token)` is
    called when Twinfield refused `token` (401): it refreshes, unless another caller already did.
    """

    def __init__(
        self, app: OAuthApp, store: TokenStore, *, http: httpx.AsyncClient, clock: Clock, refresh_margin: float
    ) -> None:
        margin = timedelta(seconds=refresh_margin)
        super().__init__(store, clock=clock, due_at=lambda tokens: tokens.expires_at - margin)
        self._app = app
        self._http = http
        self._session: Session | None = None

    async def connect(self, code: str) -> Session:
        """Finish the authorization-code flow: the connection now runs under whoever authorized."""
        async with self._lock:
            self._session = None
            await self._keep(await exchange_code(self._app, code, http=self._http, clock=self._clock))
            return await self._validated()

    async def session(self) -> Session:
        async with self._lock:
            await self._fresh()
            return await self._validated()

    async def replace_rejected(self, rejected: str) -> Session:
        async with self._lock:
            await self._replaced(rejected)
            return await self._validated()

    async def _validated(self) -> Session:
        tokens = await self._current()
        if self._session is not None and self._session.access_token == tokens.access_token:
            return self._session
        session = await validate(self._app.login_url, tokens.access_token, http=self._http)
        if session is None:  # killed early (revoked, or the server's clock disagrees): one refresh may cure it
            tokens = await self._refresh(tokens)
            session = await validate(self._app.login_url, tokens.access_token, http=self._http)
            if session is None:
                raise AuthorizationError("Twinfield calls a freshly issued access token invalid")
        self._session = session
        return session

    async def _refreshed(self, tokens: Tokens) -> Tokens:
        return await refresh_tokens(self._app, tokens, http=self._http, clock=self._clock)
