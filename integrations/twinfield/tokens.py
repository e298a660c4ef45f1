"""A Twinfield connection's tokens, kept through the same `TokenStore` protocol as Exact Online's.

The stored shape (access token, refresh token, when issued, when it expires) is the same for both systems, so the
service stores a Twinfield connection's tokens exactly as it stores an Exact Online one's. Only the refresh rule
differs, and it lives in `oauth.TokenKeeper`: Twinfield's access tokens live an hour and may be refreshed at any
time, so the keeper refreshes `refresh_margin` before `expires_at` (it never uses Exact's `refresh_due_at`).

Twinfield's refresh tokens are replaced when its identity server hands out a new one with the refreshed access
token (the sandbox always does, and then refuses the old one): the new pair is stored before it is used.
"""

from __future__ import annotations

from integrations.exact_online.tokens import InMemoryTokenStore, Tokens, TokenStore

__all__ = ["InMemoryTokenStore", "TokenStore", "Tokens"]
