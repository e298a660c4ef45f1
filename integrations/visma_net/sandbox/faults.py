"""The sandbox's switchable misbehaviour and its limits, set through the constructor or `POST /_sandbox/faults`
(a JSON object with any of the fields below, plus the one-shot command `"expire_access_tokens": true`)."""

from __future__ import annotations

import random
from enum import Enum

import msgspec

from integrations.sandboxes.faults import hang_or_fail


class Faults(msgspec.Struct, kw_only=True):
    latency_ms: int = 0
    """Added to every API call, in milliseconds."""
    insert_ms: int = 0
    """Slow inserts: a create answers this many milliseconds after the customer was stored (seed 001 measured
    about 500 ms a customer on the real service)."""
    fail_next: int = 0
    """The next N API calls answer `fail_status` (a burst of 5xx)."""
    fail_rate: float = 0.0
    """Each API call answers `fail_status` with this probability (the sandbox's seeded random)."""
    fail_status: int = 503
    hang_next: int = 0
    """The next N API calls hang for `hang_seconds` (longer than the client waits), then answer 504."""
    hang_seconds: float = 5.0
    throttle_next: int = 0
    """The next N API calls answer 429 with `Retry-After: throttle_retry_after`, whatever the hourly budget says
    (the gateway's own throttling)."""
    throttle_retry_after: int = 30
    after_insert: bool = False
    """Fail and hang strike only creates, and only after the customer was stored: the answer is lost, not the insert."""
    hourly_limit: int = 15000
    """Calls per company and client per clock hour (policy `4-fixed-window`). Visma sets it per client; 15,000 was
    its published figure for production clients, 500 for test clients."""
    access_token_seconds: int = 3600
    """`expires_in` of the tokens Visma Connect issues (an hour by default; configurable per app)."""
    withheld_scopes: list[str] = []
    """Scopes new tokens are issued without, though asked for (the app was not given them in the Developer Portal):
    a token without `vismanet_erp_service_api:create` reads customers but every create answers 403."""


class Strike(Enum):
    FAIL = "fail"
    HANG = "hang"
    THROTTLE = "throttle"


def strike(faults: Faults, rng: random.Random, *, inserting: bool, done: bool) -> Strike | None:
    """Whether this call misbehaves now: before its effect (`done` False) or after an insert took effect (True).
    Counters are spent only by the calls they strike; throttling always strikes before, then hangs and failures
    as every sandbox strikes them (`integrations.sandboxes.faults.hang_or_fail`)."""
    if not done and faults.throttle_next > 0:
        faults.throttle_next -= 1
        return Strike.THROTTLE
    if faults.after_insert != done or (faults.after_insert and not inserting):
        return None
    hit = hang_or_fail(faults, rng)
    return None if hit is None else Strike(hit.value)
