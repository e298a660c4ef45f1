"""Visma.net's hourly limits, obeyed rather than discovered.

Visma's rule (docs.vismasoftware.no, Visma Net API, "Rate Limits"): policy `4-fixed-window`, a number of calls per
hour per company and client. Every answer carries `X-RateLimit-Limit` (calls allowed in the window),
`X-RateLimit-Remaining` (calls left) and `X-RateLimit-Reset` (seconds until the window resets), and
`X-RateLimit-Policy`. Only a 429 means a call was refused; it carries `Retry-After` in seconds.

We keep the last word per company, count our own calls down between answers, and wait for the reset before a call
that the headers say would be refused. Calls to one company go one at a time, so the budget is known exactly
before each call; different companies proceed side by side.

Inside the service every call also passes the service-wide call budget (`integrations.call_budget.CallBudget`,
kept per (`visma-net`, company)), which serves mirror writes before target reads. Visma states no minute and no
day, so its hour is handed to the budget as the budget's long window (the one a spent budget is rescheduled past,
and whose last share is kept for the highest class); the budget's minute stays unknown and never holds a call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from integrations.base import Clock, Sleep
from integrations.call_budget import CallBudget
from integrations.rate_limits import Window, wait_for_reset

__all__ = ["KEY", "HourlyLimits", "Window", "read_window"]

KEY = "visma-net"
"""The integration's key in the registry, and in the call budget."""


def read_window(headers: Mapping[str, str], now: datetime) -> Window | None:
    try:
        return Window(limit=int(headers["X-RateLimit-Limit"]), remaining=int(headers["X-RateLimit-Remaining"]),
                      reset_at=now + timedelta(seconds=float(headers["X-RateLimit-Reset"])))
    except (KeyError, ValueError):
        return None


class HourlyLimits:
    """The windows of one app (client id). Share one instance between all callers of the app in a process.

    With a `budget`, every call also takes the company's turn in it (as the class `calling_as` names) and feeds it
    the hour Visma stated; the budget's turn is then the one call at a time per company."""

    def __init__(self, *, clock: Clock, sleep: Sleep, max_wait: float, budget: CallBudget | None = None) -> None:
        self._clock = clock
        self._sleep = sleep
        self._max_wait = timedelta(seconds=max_wait)
        self._windows: dict[str, Window] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.budget = budget

    @asynccontextmanager
    async def turn(self, company: str) -> AsyncIterator[None]:
        """Hold the company's turn for one call, after waiting for its window to reset if the budget is spent.
        `RateLimited` (nothing sent) when that wait would be longer than `max_wait`, or when the call budget
        refuses the call's class (the hour's last share is kept for a higher class)."""
        if self.budget is None:
            async with self._locks.setdefault(company, asyncio.Lock()):
                await self._spend(company)
                yield
            return
        async with self.budget.call(KEY, company):
            await self._spend(company)
            yield

    async def _spend(self, company: str) -> None:
        await self._wait_for_budget(company)
        window = self._windows.get(company)
        if window is not None:  # this call spends one, whatever the answer says later
            self._windows[company] = Window(window.limit, window.remaining - 1, window.reset_at)

    def observe(self, company: str, headers: Mapping[str, str]) -> None:
        heard = read_window(headers, self._clock())
        if heard is not None:
            self._windows[company] = heard
            if self.budget is not None:
                self.budget.observe(KEY, company, None, heard)

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
