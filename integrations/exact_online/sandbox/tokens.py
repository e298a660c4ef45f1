"""The sandbox's OAuth2 authority, with Exact Online's token rules.

Access tokens live 600 s; a refresh before 570 s is refused (401) while the access token still works; a refresh
kills the refresh token it used (400 "Old refresh token used."); each user may make `token_calls_per_day` token
calls per app per UTC day.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

ACCESS_TOKEN_LIFETIME = timedelta(seconds=600)
REFRESH_NOT_BEFORE = timedelta(seconds=570)
CODE_LIFETIME = timedelta(minutes=10)


class OAuthRefusal(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class AccessGrant:
    username: str
    client_id: str
    issued_at: datetime
    expires_at: datetime
    revoked: bool = False
    uses: int = 0

    def works(self, now: datetime) -> bool:
        return not self.revoked and now < self.expires_at


@dataclass
class RefreshGrant:
    username: str
    client_id: str
    access_token: str
    alive: bool = True


@dataclass
class CodeGrant:
    username: str
    client_id: str
    redirect_uri: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str


class TokenAuthority:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._codes: dict[str, CodeGrant] = {}
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._calls: dict[tuple[str, str, date], int] = {}

    def issue_code(self, username: str, client_id: str, redirect_uri: str, now: datetime) -> str:
        code = self._secret()
        self._codes[code] = CodeGrant(username, client_id, redirect_uri, now + CODE_LIFETIME)
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str, now: datetime, daily_cap: int) -> TokenPair:
        grant = self._codes.pop(code, None)
        if grant is None or grant.client_id != client_id or now >= grant.expires_at:
            raise OAuthRefusal(400, "invalid_grant", "Invalid or expired authorization code.")
        if grant.redirect_uri != redirect_uri:
            raise OAuthRefusal(400, "invalid_grant", "redirect_uri does not match the authorization request.")
        self._count_call(grant.username, client_id, now, daily_cap)
        return self._issue(grant.username, client_id, now)

    def refresh(self, refresh_token: str, client_id: str, now: datetime, daily_cap: int) -> TokenPair:
        grant = self._refresh.get(refresh_token)
        if grant is None or grant.client_id != client_id:
            raise OAuthRefusal(400, "invalid_grant", "Invalid refresh token.")
        self._count_call(grant.username, client_id, now, daily_cap)
        if not grant.alive:
            raise OAuthRefusal(400, "invalid_grant", "Old refresh token used.")
        access = self._access[grant.access_token]
        if access.works(now) and now - access.issued_at < REFRESH_NOT_BEFORE:
            raise OAuthRefusal(401, "invalid_request", "Access token not expired.")
        grant.alive = False
        return self._issue(grant.username, client_id, now)

    def resolve(self, access_token: str) -> AccessGrant | None:
        """The grant behind a bearer token, whether or not it still works (the caller says which it needs)."""
        return self._access.get(access_token)

    def revoke_all_access(self) -> None:
        for grant in self._access.values():
            grant.revoked = True

    def token_calls(self, now: datetime) -> dict[str, int]:
        return {f"{client}/{user}": n for (client, user, day), n in self._calls.items() if day == now.date()}

    def _count_call(self, username: str, client_id: str, now: datetime, daily_cap: int) -> None:
        key = (client_id, username, now.date())
        if self._calls.get(key, 0) >= daily_cap:
            raise OAuthRefusal(429, "too_many_requests", f"More than {daily_cap} token calls today.")
        self._calls[key] = self._calls.get(key, 0) + 1

    def _issue(self, username: str, client_id: str, now: datetime) -> TokenPair:
        pair = TokenPair(self._secret(), self._secret())
        self._access[pair.access_token] = AccessGrant(username, client_id, now, now + ACCESS_TOKEN_LIFETIME)
        self._refresh[pair.refresh_token] = RefreshGrant(username, client_id, pair.access_token)
        return pair

    def _secret(self) -> str:
        return f"{self._rng.getrandbits(160):040x}"
