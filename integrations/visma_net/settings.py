"""How a Visma.net Financials connection is configured: where to sign in, where the API is, how long to wait.

The service's settings embed one `VismaNetSettings` per app; the client reads only this struct, so every limit it
obeys is visible in one place. Times are seconds.
"""

from __future__ import annotations

import msgspec

DEFAULT_CONNECT_URL = "https://connect.visma.com"
"""Visma Connect, Visma's identity server (docs.vismasoftware.no, Visma Net API, "Authentication"): the token
endpoint is `/connect/token`."""

DEFAULT_API_URL = "https://api.finance.visma.net"
"""The Visma Net ERP API since the move to Azure API Management (Visma's end-of-life notice "Change base URL"
replaced `https://integration.visma.net/API/controller/api`)."""

SERVICE_SCOPES = (
    "vismanet_erp_service_api:read",
    "vismanet_erp_service_api:create",
    "vismanet_erp_service_api:update",
)
"""The scopes of the "Visma net ERP Service API" (client credentials) that reading, creating and updating customers
need, as chosen for the app in the Visma Developer Portal."""


class VismaNetSettings(msgspec.Struct, frozen=True, kw_only=True):
    """One Visma.net app's settings.

    - `connect_url`, `api_url`: Visma Connect and the ERP API; a sandbox's URL for both in tests and the demo.
    - `connect_timeout` / `read_timeout`: httpx's connect and read timeouts for every call (write and pool use the
      read timeout), in seconds. A read timeout on a create leaves its outcome unknown: it is looked up first.
    - `attempts`, `base_delay`, `max_delay`: tries of one call on 5xx and transport errors, with full-jitter
      exponential backoff between them (seconds).
    - `rate_limit_waits`: how many 429 answers one call waits out (each for its `Retry-After`) before it hands back
      `RateLimited`.
    - `max_wait`: the longest wait, in seconds, done inside a call, for a `Retry-After` or for the hourly window to
      reset when `X-RateLimit-Remaining` says 0. Longer waits raise `RateLimited` so the caller can reschedule.
    - `refresh_margin`: ask Visma Connect for a new access token this many seconds before the current one expires
      (Visma Connect's tokens live `expires_in` seconds, an hour by default, set per app in the Developer Portal).
    - `page_size`: customers per page of the list endpoint (`pageSize`; Visma makes paging mandatory on lists).
    - `lookup_margin`: how far before a create was first sent the look-up by reference searches
      (`lastModifiedDateTime >=`), in seconds: covers clock skew and Visma answering in the company's local time.
    """

    connect_url: str = DEFAULT_CONNECT_URL
    api_url: str = DEFAULT_API_URL
    scopes: tuple[str, ...] = SERVICE_SCOPES
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    rate_limit_waits: int = 5
    max_wait: float = 120.0
    refresh_margin: float = 60.0
    page_size: int = 500
    lookup_margin: float = 3 * 3600.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if min(self.connect_timeout, self.read_timeout) <= 0:
            raise ValueError("timeouts must be more than 0 seconds")
        if not 1 <= self.page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000")
