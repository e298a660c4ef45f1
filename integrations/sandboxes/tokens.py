"""A sandbox's OAuth2 authority: authorization codes, access tokens, and refresh tokens that rotate.

The rules every sandbox shares (RFC 6749's code and refresh grants, with rotation as both Exact Online and
Twinfield practise it): a code is redeemed once, by the client it was issued to, with the same `redirect_uri`,
before it expires; every refresh answers a new pair and kills the refresh token it used, so spending one twice
answers 400 `invalid_grant` (counted in `reused_refresh_tokens`). Access tokens live the `lifetime` each call
passes and can be revoked early (`revoke_all_access`).

A system's own rules are hooks a subclass overrides: `_count_token_call` (e.g. Exact's daily cap) and
`_check_refresh` (e.g. Exact's "not before 570 s").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


class OAuthRefusal(Exception):
    """A token endpoint's refusal: HTTP `status`, OAuth2 `error` code and `description`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class AccessGrant:
    user: str
    """The user the token works for, as the system names users (Exact's username, Twinfield's user code)."""
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
    access_token: str
    """The access token issued with it."""
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
    """`code_lifetime`: how long a code may wait to be redeemed; `reused_description`: the system's words for a
    refresh token spent twice. Secrets come from `rng` (same seed, same tokens)."""

    def __init__(self, rng: random.Random, *, code_lifetime: timedelta, reused_description: str) -> None:
        self._rng = rng
        self._code_lifetime = code_lifetime
        self._reused_description = reused_description
        self._codes: dict[str, CodeGrant] = {}
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self.reused_refresh_tokens = 0
        self.refreshes = 0

    def issue_code(self, user: str, client_id: str, redirect_uri: str, now: datetime) -> str:
        code = self._secret()
        self._codes[code] = CodeGrant(user, client_id, redirect_uri, now + self._code_lifetime)
        return code

    def redeem_code(
        self, code: str, client_id: str, redirect_uri: str, now: datetime, lifetime: timedelta
    ) -> TokenPair:
        grant = self._codes.pop(code, None)
        if grant is None or grant.client_id != client_id or now >= grant.expires_at:
            raise OAuthRefusal(400, "invalid_grant", "Invalid or expired authorization code.")
        if grant.redirect_uri != redirect_uri:
            raise OAuthRefusal(400, "invalid_grant", "redirect_uri does not match the authorization request.")
        self._count_token_call(grant.user, client_id, now)
        return self._issue(grant.user, client_id, now, lifetime)

    def refresh(self, refresh_token: str, client_id: str, now: datetime, lifetime: timedelta) -> TokenPair:
        grant = self._refresh.get(refresh_token)
        if grant is None or grant.client_id != client_id:
            raise OAuthRefusal(400, "invalid_grant", "Invalid refresh token.")
        self._count_token_call(grant.user, client_id, now)
        if not grant.alive:
            self.reused_refresh_tokens += 1
            raise OAuthRefusal(400, "invalid_grant", self._reused_description)
        self._check_refresh(self._access[grant.access_token], now)
        grant.alive = False
        self.refreshes += 1
        return self._issue(grant.user, client_id, now, lifetime)

    def grant(self, form: dict[str, str], client_id: str, now: datetime, lifetime: timedelta) -> TokenPair:
        """A token endpoint's grant (RFC 6749 4.1.3 and 6) for an authenticated client: the form's `grant_type`
        `authorization_code` (`code`, `redirect_uri`) or `refresh_token` (`refresh_token`)."""
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self.redeem_code(form.get("code", ""), client_id, form.get("redirect_uri", ""), now, lifetime)
        if grant_type == "refresh_token":
            return self.refresh(form.get("refresh_token", ""), client_id, now, lifetime)
        raise OAuthRefusal(400, "unsupported_grant_type", f"Grant type {grant_type!r} is not supported.")

    def resolve(self, access_token: str) -> AccessGrant | None:
        """The grant behind an access token, whether or not it still works (the caller says which it needs)."""
        return self._access.get(access_token)

    def revoke_all_access(self) -> None:
        for grant in self._access.values():
            grant.revoked = True

    def _count_token_call(self, user: str, client_id: str, now: datetime) -> None:
        """Called for every code redemption and refresh of a known grant, before it is spent. Raise
        `OAuthRefusal` to refuse it."""

    def _check_refresh(self, access: AccessGrant, now: datetime) -> None:
        """Called for a live refresh token before it is spent, with the access token issued alongside. Raise
        `OAuthRefusal` to refuse the refresh (the refresh token then stays alive)."""

    def _issue(self, user: str, client_id: str, now: datetime, lifetime: timedelta) -> TokenPair:
        pair = TokenPair(self._secret(), self._secret())
        self._access[pair.access_token] = AccessGrant(user, client_id, now, now + lifetime)
        self._refresh[pair.refresh_token] = RefreshGrant(user, client_id, pair.access_token)
        return pair

    def _secret(self) -> str:
        return f"{self._rng.getrandbits(160):040x}"
