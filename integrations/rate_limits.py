"""What every connector's rate limiting shares: a budget window as the system last reported it, the wait for
its reset before a call the window says would be refused, and where spending is kept that a system does not report.

Each system reads its own headers into a `Window` and keeps its own turns (Exact Online's
`integrations.exact_online.rate_limits`, Visma.net's `integrations.visma_net.rate_limits`). A system that states no
remaining budget (Twinfield's credits) is counted on our side, in a `SpentStore` every process of the service shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

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


class SpentStore(Protocol):
    """What was spent per (integration, administration) per window of a budget the accounting system does not report
    on, shared by every process of the service: counted per process, two processes could each spend the whole
    window (Twinfield's credits per organisation per minute). The service keeps it in its database; `LocalSpent` is
    for a connector used on its own.

    `administration` is the budget's key (for Twinfield the organisation), `window` the window's start (an aware
    moment), amounts and limits in the system's own units (credits)."""

    async def spend(self, integration: str, administration: str, window: datetime, amount: int, limit: int) -> bool:
        """Add `amount` to the window's spending if the total stays within `limit`, at once for every process (two
        can never both take the last of it); whether it was added."""
        ...

    async def refund(self, integration: str, administration: str, window: datetime, amount: int) -> None:
        """Take `amount` back (a call the system refused cost nothing); never below nothing."""
        ...

    async def spent(self, integration: str, administration: str, window: datetime) -> int:
        """What the window has spent so far; 0 for one nobody spent in."""
        ...


class LocalSpent:
    """A `SpentStore` of one process alone, keeping each key's latest window."""

    def __init__(self) -> None:
        self._spent: dict[tuple[str, str], tuple[datetime, int]] = {}

    async def spend(self, integration: str, administration: str, window: datetime, amount: int, limit: int) -> bool:
        total = await self.spent(integration, administration, window) + amount
        if total > limit:
            return False
        self._spent[integration, administration] = (window, total)
        return True

    async def refund(self, integration: str, administration: str, window: datetime, amount: int) -> None:
        if (spent := await self.spent(integration, administration, window)) > 0:
            self._spent[integration, administration] = (window, max(0, spent - amount))

    async def spent(self, integration: str, administration: str, window: datetime) -> int:
        found = self._spent.get((integration, administration))
        return found[1] if found is not None and found[0] == window else 0
