"""Waiting in tests for what the service does in its own time: real time only bounds the wait, it is never what a
test asserts; `tick` moves a test's clock on while it waits, so that work due by that clock comes due."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

WAIT_SECONDS = 60


def wait_until(check: Callable[[], Any], what: str, tick: Callable[[], None] = lambda: None,
               seconds: float = WAIT_SECONDS) -> Any:
    """`check()`'s first truthy answer; `AssertionError` naming `what` when none came within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        tick()
        time.sleep(0.02)
    raise AssertionError(f"never: {what}")
