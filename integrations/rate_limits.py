"""What every connector's rate limiting shares: a budget window as the system last reported it, and the wait for
its reset before a call the window says would be refused.

Each system reads its own headers into a `Window` and keeps its own turns (Exact Online's
`integrations.exact_online.rate_limits`, Visma.net's `integrations.visma_net.rate_limits`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from integrations.base import Clock, RateLimited, Sleep


@dataclass(frozen=True)
class Window:
    """One budget as last reported: `limit` and `remaining` in calls, `reset_at` an aware moment."""

    limit: int
    remaining: int
    reset_at: datetime

    def spent_until(self, now: datetime) -> datetime | None:
        """When the spent budget resets; None while calls remain or once `reset_at` has passed."""
        return self.reset_at if self.remaining <= 0 and now < self.reset_at else None


async def wait_for_reset(until: datetime, *, clock: Clock, sleep: Sleep, max_wait: timedelta, spent: str) -> None:
    """Sleep until `until`, or raise `RateLimited(until, spent)` at once when that is longer than `max_wait` (a
    spent daily or hourly budget is handed back, so the caller can reschedule)."""
    wait = until - clock()
    if wait > max_wait:
        raise RateLimited(until, spent)
    await sleep(wait.total_seconds())
