"""The sandbox's OAuth2 authority (`integrations.sandboxes.tokens`), with Exact Online's token rules.

Access tokens live 600 s (`Faults.access_token_seconds` shortens them); a refresh is refused (401) while the
access token works and has more than 30 s to live (570 s into 600 s); a refresh
kills the refresh token it used (400 "Old refresh token used."); each user may make `token_calls_per_day` token
calls per app per UTC day. A code must be redeemed within 10 minutes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta

from integrations.sandboxes.tokens import AccessGrant, CodeGrant, OAuthRefusal, RefreshGrant, TokenPair
from integrations.sandboxes.tokens import TokenAuthority as _Authority

__all__ = ["AccessGrant", "CodeGrant", "OAuthRefusal", "RefreshGrant", "TokenAuthority", "TokenPair"]

ACCESS_TOKEN_LIFETIME = timedelta(seconds=600)
REFRESH_NOT_BEFORE = timedelta(seconds=570)
REFRESH_WINDOW = ACCESS_TOKEN_LIFETIME - REFRESH_NOT_BEFORE
"""A refresh is refused while the access token works and has more than this left (30 s: 570 s into 600 s)."""
CODE_LIFETIME = timedelta(minutes=10)


class TokenAuthority(_Authority):
    """`daily_cap()`: the token calls each user may make per app per UTC day, read at each call (the faults in
    force)."""

    def __init__(self, rng: random.Random, daily_cap: Callable[[], int]) -> None:
        super().__init__(rng, code_lifetime=CODE_LIFETIME, reused_description="Old refresh token used.")
        self._daily_cap = daily_cap
        self._calls: dict[tuple[str, str, date], int] = {}

    def token_calls(self, now: datetime) -> dict[str, int]:
        """Today's token calls by `client/user`."""
        return {f"{client}/{user}": n for (client, user, day), n in self._calls.items() if day == now.date()}

    def _count_token_call(self, user: str, client_id: str, now: datetime) -> None:
        key, cap = (client_id, user, now.date()), self._daily_cap()
        if self._calls.get(key, 0) >= cap:
            raise OAuthRefusal(429, "too_many_requests", f"More than {cap} token calls today.")
        self._calls[key] = self._calls.get(key, 0) + 1

    def _check_refresh(self, access: AccessGrant, now: datetime) -> None:
        if access.works(now) and access.expires_at - now > REFRESH_WINDOW:
            raise OAuthRefusal(401, "invalid_request", "Access token not expired.")
