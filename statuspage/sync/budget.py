"""How many calls sync may take, and when: sync is the lowest class and never spends what bookings need.

DESIGN.md ("Master-data sync"): every call goes through one call budget per administration with priority
classes and a daily reserve kept for bookings. Until that budget is on main, `RateLimitReserve` is the seam: it
reads the rate-limit state the Exact Online connector keeps from Exact's headers (`X-RateLimit-Remaining`
daily, `X-RateLimit-Minutely-Remaining`) and holds sync back while only the reserves are left. Replace it with
the budget's lowest class by implementing `SyncBudget`; the engine asks nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from integrations.exact_online.rate_limits import RateLimits
from statuspage.core.clock import Clock


@dataclass(frozen=True)
class Hold:
    """Sync may not call yet: until when at the latest, and why in plain words."""

    until: datetime
    reason: str


class SyncBudget(Protocol):
    def hold(self, division: str) -> Hold | None:
        """None: sync may make its next call to `division` now."""
        ...

    def daily(self, division: str) -> tuple[int, int] | None:
        """(calls left today, the day's limit) as last known, for monitoring; None before anything is known."""
        ...


class RateLimitReserve:
    """Sync calls only while more than `daily_reserve` calls of the day and more than `minutely_reserve` of the
    minute are left, by Exact's last answer for the division (Exact: 60 a minute, 5,000 a day per app and
    division; a daily 429 lasts until the daily reset). So a booking that arrives finds budget at once."""

    def __init__(self, rate_limits: RateLimits, clock: Clock, *, daily_reserve: int, minutely_reserve: int) -> None:
        self.rate_limits, self.clock = rate_limits, clock
        self.daily_reserve, self.minutely_reserve = daily_reserve, minutely_reserve

    def hold(self, division: str) -> Hold | None:
        now = self.clock()
        day = self.rate_limits.window(division, daily=True)
        if day is not None and now < day.reset_at and day.remaining <= self.daily_reserve:
            return Hold(day.reset_at, f"only the daily reserve for bookings is left ({day.remaining} of "
                                      f"{day.limit} calls); sync goes on after the daily reset")
        minute = self.rate_limits.window(division, daily=False)
        if minute is not None and now < minute.reset_at and minute.remaining <= self.minutely_reserve:
            return Hold(minute.reset_at, f"{minute.remaining} calls left this minute are kept for bookings")
        return None

    def daily(self, division: str) -> tuple[int, int] | None:
        day = self.rate_limits.window(division, daily=True)
        return None if day is None else (day.remaining, day.limit)
