"""The sandbox's switchable misbehaviour and its limits, set through the constructor or `POST /_sandbox/faults`
(a JSON object with any of the fields below, plus the one-shot command `"expire_access_tokens": true`)."""

from __future__ import annotations

import random
from enum import Enum

import msgspec


class Faults(msgspec.Struct, kw_only=True):
    latency_ms: int = 0
    """Added to every web-service call."""
    fail_next: int = 0
    """The next N web-service calls answer `fail_status` (a burst of 5xx)."""
    fail_rate: float = 0.0
    """Each web-service call answers `fail_status` with this probability (the sandbox's seeded random)."""
    fail_status: int = 503
    hang_next: int = 0
    """The next N web-service calls hang for `hang_seconds` (longer than the client waits), then answer 504."""
    hang_seconds: float = 5.0
    after_booking: bool = False
    """Fail and hang strike only writing ProcessXml documents, and only after they took effect."""
    credits_per_minute: int = 600
    """Each organisation's budget per clock minute. Reads cost `read_credits`, writes `write_credits`."""
    read_credits: int = 1
    write_credits: int = 3
    concurrency_limit: int = 2
    """Calls in flight at once per organisation; one more answers 429 with `Retry-After: 1`."""
    access_token_seconds: int = 3600
    misroute_bug: bool = False
    """Like Exact Online in October 2019: a call for an office the user may not open is served from the user's
    default office, and a booking lands there. Without it Twinfield refuses: access denied."""


class Strike(Enum):
    FAIL = "fail"
    HANG = "hang"


def strike(faults: Faults, rng: random.Random, *, writing: bool, done: bool) -> Strike | None:
    """Whether this call misbehaves now: before its effect (`done` False) or after a write took effect (True).
    Counters are spent only by the calls they strike."""
    if faults.after_booking != done or (faults.after_booking and not writing):
        return None
    if faults.hang_next > 0:
        faults.hang_next -= 1
        return Strike.HANG
    if faults.fail_next > 0:
        faults.fail_next -= 1
        return Strike.FAIL
    if faults.fail_rate and rng.random() < faults.fail_rate:
        return Strike.FAIL
    return None
