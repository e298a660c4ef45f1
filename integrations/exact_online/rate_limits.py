"""Exact Online's rate limits, obeyed rather than discovered.

Limits are per app and division, a minutely one and a daily one, and differ per app; every answer states them
in `X-RateLimit-Minutely-Limit/-Remaining/-Reset` and `X-RateLimit-Limit/-Remaining/-Reset` (Reset in epoch
milliseconds). We keep the last word per division and wait for the reset before a call that would exceed it.

Calls to one division go one at a time: the budget is then known exactly before each call, and at 60 calls a
minute concurrency would buy nothing. Different divisions proceed side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from integrations.base import Clock, Sleep
from integrations.rate_limits import Window, wait_for_reset

__all__ = ["DEFAULT_MAX_WAIT", "RateLimits", "Window", "merge", "read_window"]

DEFAULT_MAX_WAIT = timedelta(seconds=65)
"""Longer waits (a spent daily limit) are handed back as `RateLimited`, so the caller can reschedule."""


def read_window(headers: Mapping[str, str], prefix: str) -> Window | None:
    try:
        return Window(
            limit=int(headers[f"{prefix}-Limit"]),
            remaining=int(headers[f"{prefix}-Remaining"]),
            reset_at=datetime.fromtimestamp(int(headers[f"{prefix}-Reset"]) / 1000, UTC),
        )
    except (KeyError, ValueError):
        return None


def merge(known: Window | None, heard: Window) -> Window:
    """Answers may arrive out of order; within one window the remaining budget only goes down."""
    if known is not None and known.reset_at == heard.reset_at and known.remaining < heard.remaining:
        return known
    return heard


class RateLimits:
    """The budgets of one app. Share one instance between all connections of the app in a process."""

    def __init__(self, *, clock: Clock, sleep: Sleep, max_wait: timedelta = DEFAULT_MAX_WAIT) -> None:
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._windows: dict[tuple[str | None, str], Window] = {}
        self._locks: dict[str | None, asyncio.Lock] = {}

    @asynccontextmanager
    async def turn(self, division: str | None) -> AsyncIterator[None]:
        """Hold the division's turn for one call, after waiting for its budget if it is spent."""
        async with self._locks.setdefault(division, asyncio.Lock()):
            await self._wait_for_budget(division)
            yield

    def observe(self, division: str | None, headers: Mapping[str, str]) -> None:
        for prefix in ("X-RateLimit-Minutely", "X-RateLimit"):
            heard = read_window(headers, prefix)
            if heard is not None:
                self._windows[(division, prefix)] = merge(self._windows.get((division, prefix)), heard)

    def minutely_limit(self, division: str | None) -> int | None:
        """What Exact Online last said this app may call in the division per minute; None before it said."""
        window = self._windows.get((division, "X-RateLimit-Minutely"))
        return None if window is None else window.limit

    def spent_until(self, division: str | None) -> datetime | None:
        now = self._clock()
        moments = [w.spent_until(now) for (d, _), w in self._windows.items() if d == division]
        return max((m for m in moments if m is not None), default=None)

    async def _wait_for_budget(self, division: str | None) -> None:
        until = self.spent_until(division)
        if until is not None:
            await wait_for_reset(until, clock=self._clock, sleep=self._sleep, max_wait=self._max_wait,
                                 spent=f"rate limit of division {division} spent")
