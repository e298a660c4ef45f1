"""The sandbox's switchable misbehaviour, and the limits that make a tight budget easy to reach.

Set them through the constructor or `POST /_sandbox/faults` (a JSON object with any of the fields below, plus
the one-shot command `"expire_access_tokens": true`), read them back with `GET /_sandbox/faults`.
"""

from __future__ import annotations

import random
from enum import Enum

import msgspec


class Faults(msgspec.Struct, kw_only=True):
    latency_ms: int = 0
    """Added to every API call."""
    fail_next: int = 0
    """The next N API calls answer `fail_status`."""
    fail_rate: float = 0.0
    """Each API call answers `fail_status` with this probability, drawn from the sandbox's seeded random."""
    fail_status: int = 503
    hang_next: int = 0
    """The next N API calls hang for `hang_seconds` (longer than the client waits), then answer 504."""
    hang_seconds: float = 5.0
    after_booking: bool = False
    """Fail and hang strike only POSTs, and only after they have booked: the client cannot know it did."""
    minutely_limit: int = 60
    daily_limit: int = 5000
    token_calls_per_day: int = 200
    misroute_bug: bool = False
    """October 2019: a call to a division the user cannot open is served from the user's current division;
    a POST books there and answers 201. Without it such a call answers 403 `NoDivisionAccess`."""


class Strike(Enum):
    FAIL = "fail"
    HANG = "hang"


def strike(faults: Faults, rng: random.Random, *, booking: bool, booked: bool) -> Strike | None:
    """Whether this call misbehaves now: before its effect (`booked` False) or after a POST booked (True).
    Counters are spent only by the calls they strike."""
    if faults.after_booking != booked or (faults.after_booking and not booking):
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
