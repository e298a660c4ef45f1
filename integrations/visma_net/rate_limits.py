"""Visma.net's hourly limits, obeyed rather than discovered.

Visma's rule (docs.vismasoftware.no, Visma Net API, "Rate Limits"): policy `4-fixed-window`, a number of calls per
hour per company and client. Every answer carries `X-RateLimit-Limit` (calls allowed in the window),
`X-RateLimit-Remaining` (calls left) and `X-RateLimit-Reset` (seconds until the window resets), and
`X-RateLimit-Policy`. Only a 429 means a call was refused; it carries `Retry-After` in seconds.

We keep the last word per company, count our own calls down between answers, and wait for the reset before a call
that the headers say would be refused. Calls to one company go one at a time, so the budget is known exactly
before each call; different companies proceed side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from integrations.base import Clock, Sleep
from integrations.rate_limits import Window, wait_for_reset

__all__ = ["HourlyLimits", "Window", "read_window"]


def read_window(headers: Mapping[str, str], now: datetime) -> Window | None:
    try:
        return Window(limit=int(headers["X-RateLimit-Limit"]), remaining=int(headers["X-RateLimit-Remaining"]),
                      reset_at=now + timedelta(seconds=float(headers["X-RateLimit-Reset"])))
    except (KeyError, ValueError):
        return None


class HourlyLimits:
    """The windows of one app (client id). Share one instance between all callers of the app in a process."""

    def __init__(self, *, clock: Clock, sleep: Sleep, max_wait: float) -> None:
        self._clock = clock
        self._sleep = sleep
        self._max_wait = timedelta(seconds=max_wait)
        self._windows: dict[str, Window] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def turn(self, company: str) -> AsyncIterator[None]:
        """Hold the company's turn for one call, after waiting for its window to reset if the budget is spent.
        `RateLimited` (nothing sent) when that wait would be longer than `max_wait`."""
        async with self._locks.setdefault(company, asyncio.Lock()):
            await self._wait_for_budget(company)
            window = self._windows.get(company)
            if window is not None:  # this call spends one, whatever the answer says later
                self._windows[company] = Window(window.limit, window.remaining - 1, window.reset_at)
            yield

    def observe(self, company: str, headers: Mapping[str, str]) -> None:
        heard = read_window(headers, self._clock())
        if heard is not None:
            self._windows[company] = heard

    def window(self, company: str) -> Window | None:
        """What Visma last said of the company's hour, counted down by the calls sent since; None before it said."""
        return self._windows.get(company)

    async def _wait_for_budget(self, company: str) -> None:
        window = self._windows.get(company)
        until = None if window is None else window.spent_until(self._clock())
        if until is None:
            return
        await wait_for_reset(until, clock=self._clock, sleep=self._sleep, max_wait=self._max_wait,
                             spent=f"hourly limit of company {company} spent")
        del self._windows[company]  # a new window: its budget is unknown until the next answer says
