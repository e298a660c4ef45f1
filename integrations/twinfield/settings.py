"""How a Twinfield connection is configured: where to sign in, how long to wait, how many calls at once.

`TwinfieldSettings` is both the service's `[integrations.twinfield]` table (through the integration registry) and
what the connector reads, so every limit it obeys is visible in one place and has one default.
"""

from __future__ import annotations

from integrations.registry import IntegrationSettings

DEFAULT_LOGIN_URL = "https://login.twinfield.com"
"""Twinfield's identity server (OpenID Connect), from Twinfield's web-services documentation: authorize, token,
userinfo and access-token validation all live under `/auth/authentication/connect/`."""

SANDBOX_CLIENT_ID = "sandbox-client"
"""The one app the sandbox knows (`integrations.sandboxes.state`)."""


class TwinfieldSettings(IntegrationSettings, kw_only=True, forbid_unknown_fields=True):
    """One Twinfield app's settings. Times are seconds, credits Twinfield's. `base_url` is the identity server
    (the connector's is `OAuthApp.login_url`); the cluster that serves the SOAP web services is not configured at
    all: Twinfield names it in the token's validation.

    - `connect_timeout` / `read_timeout`: httpx's connect and read timeouts for every call (write and pool use the
      read timeout). A read timeout on a write leaves its outcome unknown, so it is looked up before a resend.
    - `concurrency_per_organisation`: calls in flight at once per Twinfield organisation. Twinfield advises one
      (its rate limits, enforced since December 2024, include a concurrency limit per organisation).
    - `credits_per_minute`, `read_credits`, `write_credits`: the organisation's credit budget per minute and what
      a read and a write cost. The prices are the customer's Twinfield contract's (Twinfield documents credits per
      minute per organisation, writes dearer than reads, without one number for all); the defaults are the
      sandbox's.
    - `max_retry_after`: the longest `Retry-After` waited out inside a call; longer ones raise `RateLimited` (the
      action is rescheduled).
    - `rate_limit_waits`: how many 429 answers one call waits out before handing back `RateLimited`.
    - `attempts`, `base_delay`, `max_delay`: retries of 5xx and transport errors, full-jitter exponential backoff.
    - `refresh_margin`: refresh an access token this long before it expires (Twinfield's live an hour).
    - `payables_account`: the balance-sheet account (dim1) of a purchase transaction's total line, i.e. the
      creditors control account of the offices booked into.
    - `rights_cache_seconds`: how long a Finder `OFF` answer stands for `has_right`.
    """

    client_id: str = SANDBOX_CLIENT_ID
    """The app's client id (Twinfield's developer portal)."""
    concurrency_per_organisation: int = 1
    credits_per_minute: int = 600
    read_credits: int = 1
    write_credits: int = 3
    max_retry_after: float = 65.0
    rate_limit_waits: int = 10
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    refresh_margin: float = 60.0
    payables_account: str = "1600"

    def __post_init__(self) -> None:
        if self.concurrency_per_organisation < 1:
            raise ValueError("concurrency_per_organisation must be at least 1")
        if min(self.credits_per_minute, self.read_credits, self.write_credits) < 1:
            raise ValueError("credits_per_minute, read_credits and write_credits must be at least 1")
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if min(self.connect_timeout, self.read_timeout) <= 0:
            raise ValueError("timeouts must be more than 0 seconds")
