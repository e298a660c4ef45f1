"""Access tokens from Visma Connect with the client-credentials grant, one per company (tenant), renewed in time.

Visma documents two flows for the Visma Net ERP API: authorization code (a person signs in; the "Interactive API")
and client credentials (no person; the "Service API"), the one Visma names for machine-to-machine integrations
(docs.vismasoftware.no, "Service Integrations"). This service runs unattended, so it uses client credentials:

    POST {connect_url}/connect/token   (form)
        grant_type=client_credentials, client_id, client_secret, scope (space separated), tenant_id
    200 {"access_token": "...", "expires_in": 3600, "token_type": "Bearer", "scope": "..."}

There is no refresh token: a token is renewed by asking again, `refresh_margin` seconds before it expires. The
token is bound to the tenant it was asked for, so each company has its own.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import msgspec

from integrations.base import AuthorizationError, Clock, RemoteError, TransientError

TOKEN_PATH = "/connect/token"


class ServiceApp(msgspec.Struct, frozen=True, kw_only=True):
    """The app as registered in the Visma Developer Portal (a "Service integration")."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"ServiceApp(client_id={self.client_id!r}, client_secret=<redacted>)"

    __str__ = __repr__


class AccessToken(msgspec.Struct, frozen=True, kw_only=True):
    """One tenant's bearer token. `expires_at` counts from when we asked, which is never after Visma issued it."""

    tenant_id: str
    value: str
    expires_at: datetime

    def due(self, now: datetime, margin: timedelta) -> bool:
        return now >= self.expires_at - margin

    def __repr__(self) -> str:
        return f"AccessToken(tenant_id={self.tenant_id!r}, value=<redacted>, expires_at={self.expires_at.isoformat()})"

    __str__ = __repr__


class _TokenAnswer(msgspec.Struct):
    access_token: str
    expires_in: int
    token_type: str = "Bearer"


class _TokenRefusal(msgspec.Struct):
    error: str = ""
    error_description: str = ""


async def request_token(
    app: ServiceApp, tenant_id: str, *, scopes: tuple[str, ...], connect_url: str, http: httpx.AsyncClient,
    clock: Clock,
) -> AccessToken:
    """One client-credentials token call. `AuthorizationError` when Visma Connect refuses the app or tenant (with its
    `error` as reason), `TransientError` on 5xx and transport errors (safe to repeat: nothing is rotated)."""
    sent_at = clock()
    try:
        response = await http.post(f"{connect_url.rstrip('/')}{TOKEN_PATH}", data={
            "grant_type": "client_credentials", "client_id": app.client_id, "client_secret": app.client_secret,
            "scope": " ".join(scopes), "tenant_id": tenant_id,
        })
    except httpx.TransportError as exc:
        raise TransientError(f"token call failed: {type(exc).__name__}") from exc
    if response.status_code == 200:
        answer = msgspec.json.decode(response.content, type=_TokenAnswer)
        return AccessToken(tenant_id=tenant_id, value=answer.access_token,
                           expires_at=sent_at + timedelta(seconds=answer.expires_in))
    try:
        refusal = msgspec.json.decode(response.content, type=_TokenRefusal)
    except (msgspec.DecodeError, msgspec.ValidationError):
        refusal = _TokenRefusal()
    if response.status_code >= 500:
        raise TransientError(f"token call answered HTTP {response.status_code}")
    if response.status_code in (400, 401):
        raise AuthorizationError(refusal.error_description or "token refused", reason=refusal.error or None)
    raise RemoteError(response.status_code, refusal.error, refusal.error_description)


class TokenKeeper:
    """The tokens of one app, per tenant: asked for when missing or due, one token call per tenant at a time."""

    def __init__(
        self, app: ServiceApp, *, scopes: tuple[str, ...], connect_url: str, refresh_margin: float,
        http: httpx.AsyncClient, clock: Clock,
    ) -> None:
        self._app = app
        self._scopes = scopes
        self._connect_url = connect_url
        self._margin = timedelta(seconds=refresh_margin)
        self._http = http
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def access_token(self, tenant_id: str) -> str:
        async with self._locks.setdefault(tenant_id, asyncio.Lock()):
            token = self._tokens.get(tenant_id)
            if token is None or token.due(self._clock(), self._margin):
                token = await self._fetch(tenant_id)
            return token.value

    async def replace_rejected(self, tenant_id: str, rejected: str) -> str:
        """The API answered 401 to `rejected`: ask for a new token, unless another caller already has."""
        async with self._locks.setdefault(tenant_id, asyncio.Lock()):
            token = self._tokens.get(tenant_id)
            if token is not None and token.value != rejected and not token.due(self._clock(), self._margin):
                return token.value
            return (await self._fetch(tenant_id)).value

    async def _fetch(self, tenant_id: str) -> AccessToken:
        token = await request_token(self._app, tenant_id, scopes=self._scopes, connect_url=self._connect_url,
                                    http=self._http, clock=self._clock)
        self._tokens[tenant_id] = token
        return token
