"""Exact Online's rate limits, obeyed rather than discovered: its headers read into the shared call budget.

Limits are per app and division, a minutely one and a daily one, and differ per app; every answer states them
in `X-RateLimit-Minutely-Limit/-Remaining/-Reset` and `X-RateLimit-Limit/-Remaining/-Reset` (Reset in epoch
milliseconds; Exact Online, "API limits"). Calls without a division (`current/Me`) do not count.

The budget itself (priority classes, the bookings' daily reserve, one call at a time per division) is the
service-wide `integrations.call_budget.CallBudget`; this module is Exact Online's side of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

from integrations.base import Clock, Sleep
from integrations.budget import merge
from integrations.call_budget import DEFAULT_MAX_WAIT, CallBudget
from integrations.rate_limits import Window

KEY = "exact-online"
MINUTELY = "X-RateLimit-Minutely"
DAILY = "X-RateLimit"

__all__ = ["DEFAULT_MAX_WAIT", "RateLimits", "Window", "merge", "read_window"]


def read_window(headers: Mapping[str, str], prefix: str) -> Window | None:
    try:
        return Window(
            limit=int(headers[f"{prefix}-Limit"]),
            remaining=int(headers[f"{prefix}-Remaining"]),
            reset_at=datetime.fromtimestamp(int(headers[f"{prefix}-Reset"]) / 1000, UTC),
        )
    except (KeyError, ValueError):
        return None


class RateLimits:
    """Exact Online's view of the call budget. Share one `CallBudget` between all connections of the app in a
    process (Exact's limits are per app and division, whichever connection calls); without one, a private one."""

    def __init__(self, *, clock: Clock, sleep: Sleep, max_wait: timedelta = DEFAULT_MAX_WAIT,
                 budget: CallBudget | None = None) -> None:
        self.budget = budget if budget is not None else CallBudget(clock=clock, sleep=sleep, max_wait=max_wait)

    def turn(self, division: str | None) -> AbstractAsyncContextManager[None]:
        """Hold the division's turn for one call of the current class, after waiting for its budget."""
        return self.budget.call(KEY, division)

    def observe(self, division: str | None, headers: Mapping[str, str]) -> None:
        self.budget.observe(KEY, division, read_window(headers, MINUTELY), read_window(headers, DAILY))

    def minutely_limit(self, division: str | None) -> int | None:
        """What Exact Online last said this app may call in the division per minute; None before it said."""
        return self.budget.minutely_limit(KEY, division)

    def spent_until(self, division: str | None) -> datetime | None:
        return self.budget.spent_until(KEY, division)
