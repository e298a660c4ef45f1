"""The sandbox's identity server (`integrations.sandboxes.tokens`): authorization codes, access tokens, and
refresh tokens that rotate.

Every refresh answers a new refresh token and kills the one it used; a dead refresh token answers 400
`invalid_grant` ("Refresh token already used.") and is counted (`reused_refresh_tokens`), so a test can show no
client ever spent one twice. Access tokens live `Faults.access_token_seconds` and can be killed early
(`expire_access_tokens`). A code must be redeemed within 5 minutes. Twinfield allows a refresh at any time.
"""

from __future__ import annotations

import random
from datetime import timedelta

from integrations.sandboxes.tokens import AccessGrant, CodeGrant, OAuthRefusal, RefreshGrant, TokenPair
from integrations.sandboxes.tokens import TokenAuthority as _Authority

__all__ = ["AccessGrant", "CodeGrant", "OAuthRefusal", "RefreshGrant", "TokenAuthority", "TokenPair"]

CODE_LIFETIME = timedelta(minutes=5)


class TokenAuthority(_Authority):
    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng, code_lifetime=CODE_LIFETIME, reused_description="Refresh token already used.")
