"""Exact Online's rule for when a connection's tokens are refreshed. The tokens and the stores that keep them are
every system's (`integrations.tokens`).

Exact's access tokens live 600 seconds and a refresh before 570 seconds is refused ("Access token not expired").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from integrations.tokens import InMemoryTokenStore, SharedTokenStore, Tokens, TokenStore, guard_of

__all__ = ["InMemoryTokenStore", "SharedTokenStore", "TokenStore", "Tokens", "guard_of", "refresh_due_at"]

REFRESH_NOT_BEFORE = timedelta(seconds=570)
"""Exact refuses a refresh (401 "Access token not expired") until an access token is 570 seconds old."""

REFRESH_BEFORE_EXPIRY = timedelta(seconds=30)
"""Refresh at the latest this long before the token's own `expires_in` runs out: an access token that Exact
issues for less than 600 s must not expire in use (the 570 s rule is 30 s before the usual 600 s)."""


def refresh_due_at(tokens: Tokens) -> datetime:
    """Due by either rule: 570 s after issue (Exact's), or 30 s before `expires_in` ends, whichever is first."""
    return min(tokens.issued_at + REFRESH_NOT_BEFORE, tokens.expires_at - REFRESH_BEFORE_EXPIRY)
