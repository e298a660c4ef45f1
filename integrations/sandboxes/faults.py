"""The fault modes every sandbox offers, and the rule that decides whether a call misbehaves.

A sandbox's `Faults` subclasses `FaultModes` with its own limits; its fields come after these, so
`GET /_sandbox/faults` lists them in the same order as before the kit existed.
"""

from __future__ import annotations

import random
from enum import Enum
from typing import Protocol

import msgspec


class FaultModes(msgspec.Struct, kw_only=True):
    latency_ms: int = 0
    """Milliseconds added to every call of the system's API (not the token endpoint, not `/_sandbox/`)."""
    fail_next: int = 0
    """The next N API calls answer `fail_status` (a burst of 5xx)."""
    fail_rate: float = 0.0
    """Each API call answers `fail_status` with this probability, drawn from the sandbox's seeded random."""
    fail_status: int = 503
    hang_next: int = 0
    """The next N API calls hang for `hang_seconds` (longer than the client waits), then answer 504."""
    hang_seconds: float = 5.0
    after_booking: bool = False
    """Fail and hang strike only calls that write, and only after they took effect: the client cannot know they
    did. Which calls write is the sandbox's to say."""


class Strike(Enum):
    FAIL = "fail"
    HANG = "hang"


def strike(faults: FaultModes, rng: random.Random, *, writing: bool, after_effect: bool) -> Strike | None:
    """Whether this call misbehaves now: asked before its effect (`after_effect` False) or after a write took
    effect (True). Hangs come before failures; counters are spent only by the calls they strike."""
    if faults.after_booking != after_effect or (faults.after_booking and not writing):
        return None
    return hang_or_fail(faults, rng)


class HangAndFail(Protocol):
    """The counters `hang_or_fail` spends: what every sandbox's faults have, whatever else they hold."""

    hang_next: int
    fail_next: int
    fail_rate: float


def hang_or_fail(faults: HangAndFail, rng: random.Random) -> Strike | None:
    """For a call the faults may strike: a hang while `hang_next` lasts, then a failure while `fail_next` lasts,
    then a failure with probability `fail_rate` (drawn from `rng`, the sandbox's seeded random). A counter is
    spent only when it strikes."""
    if faults.hang_next > 0:
        faults.hang_next -= 1
        return Strike.HANG
    if faults.fail_next > 0:
        faults.fail_next -= 1
        return Strike.FAIL
    if faults.fail_rate and rng.random() < faults.fail_rate:
        return Strike.FAIL
    return None
