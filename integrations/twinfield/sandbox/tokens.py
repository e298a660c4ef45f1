"""The sandbox's identity server: authorization codes, access tokens, and refresh tokens that rotate.

Every refresh answers a new refresh token and kills the one it used; a dead refresh token answers 400
`invalid_grant` and is counted (`reused_refresh_tokens`), so a test can show no client ever spent one twice.
Access tokens live `Faults.access_token_seconds` and can be killed early (`expire_access_tokens`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

CODE_LIFETIME = timedelta(minutes=5)


class OAuthRefusal(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class AccessGrant:
    user: str
    client_id: str
    issued_at: datetime
    expires_at: datetime
    revoked: bool = False
    uses: int = 0

    def works(self, now: datetime) -> bool:
        return not self.revoked and now < self.expires_at


@dataclass
class RefreshGrant:
    user: str
    client_id: str
    alive: bool = True


@dataclass
class CodeGrant:
    user: str
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
        self.reused_refresh_tokens = 0
        self.refreshes = 0

    def issue_code(self, user: str, client_id: str, redirect_uri: str, now: datetime) -> str:
        code = self._secret()
        self._codes[code] = CodeGrant(user, client_id, redirect_uri, now + CODE_LIFETIME)
        return code

    def redeem_code(
        self, code: str, client_id: str, redirect_uri: str, now: datetime, lifetime: timedelta
    ) -> TokenPair:
        grant = self._codes.pop(code, None)
        if grant is None or grant.client_id != client_id or now >= grant.expires_at:
            raise OAuthRefusal(400, "invalid_grant", "Invalid or expired authorization code.")
        if grant.redirect_uri != redirect_uri:
            raise OAuthRefusal(400, "invalid_grant", "redirect_uri does not match the authorization request.")
        return self._issue(grant.user, client_id, now, lifetime)

    def refresh(self, refresh_token: str, client_id: str, now: datetime, lifetime: timedelta) -> TokenPair:
        grant = self._refresh.get(refresh_token)
        if grant is None or grant.client_id != client_id:
            raise OAuthRefusal(400, "invalid_grant", "Invalid refresh token.")
        if not grant.alive:
            self.reused_refresh_tokens += 1
            raise OAuthRefusal(400, "invalid_grant", "Refresh token already used.")
        grant.alive = False
        self.refreshes += 1
        return self._issue(grant.user, client_id, now, lifetime)

    def resolve(self, access_token: str) -> AccessGrant | None:
        """The grant behind a token, whether or not it still works (the caller says which it needs)."""
        return self._access.get(access_token)

    def revoke_all_access(self) -> None:
        for grant in self._access.values():
            grant.revoked = True

    def _issue(self, user: str, client_id: str, now: datetime, lifetime: timedelta) -> TokenPair:
        pair = TokenPair(self._secret(), self._secret())
        self._access[pair.access_token] = AccessGrant(user, client_id, now, now + lifetime)
        self._refresh[pair.refresh_token] = RefreshGrant(user, client_id)
        return pair

    def _secret(self) -> str:
        return f"{self._rng.getrandbits(160):040x}"
