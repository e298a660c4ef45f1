"""When syncs run by themselves (seed 002): nightly incremental inside a window per environment, and once a
month, on a day drawn at random per environment, that nightly run is a full sync instead. Plain Python: every
moment is passed in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from statuspage.core.vocabulary import SyncKind

LAST_FULL_SYNC_DAY = 28
"""Full-sync days are drawn from 1..28, so that every month has the day."""


@dataclass(frozen=True)
class Window:
    """A nightly window in local (page) time; `until` before `starts` means it runs past midnight."""

    starts: time
    until: time

    @classmethod
    def parse(cls, text: str) -> Window:
        """`"01:00-06:00"` (the format `settings` checks). An empty window, `"00:00-00:00"`, never opens: no
        nightly sync for that environment."""
        first, _, second = text.partition("-")
        return cls(time.fromisoformat(first), time.fromisoformat(second))

    @property
    def never(self) -> bool:
        return self.starts == self.until

    def night_of(self, local: datetime) -> date | None:
        """The date the window containing `local` opened on, or None outside the window."""
        moment = local.time()
        if self.starts <= self.until:
            return local.date() if self.starts <= moment < self.until else None
        if moment >= self.starts:
            return local.date()
        return local.date() - timedelta(days=1) if moment < self.until else None


def draw_full_sync_day(rng: random.Random) -> int:
    """The day of the month on which an environment's nightly sync is a full one; drawn once and stored."""
    return rng.randint(1, LAST_FULL_SYNC_DAY)


def nightly_due(now: datetime, zone: ZoneInfo, window: Window, last_nightly: date | None) -> date | None:
    """The night to run now: inside the window, and not run yet for that night. None otherwise."""
    night = window.night_of(now.astimezone(zone))
    return night if night is not None and night != last_nightly else None


def nightly_kind(night: date, full_sync_day: int) -> SyncKind:
    """Seed 002: once a month, on its random day, the nightly incremental sync becomes a full sync."""
    return SyncKind.FULL if night.day == full_sync_day else SyncKind.INCREMENTAL


def next_nightly(now: datetime, zone: ZoneInfo, window: Window, last_nightly: date | None) -> datetime | None:
    """When the next nightly run starts (aware, in `zone`): now if one is due, else the window's next opening;
    None for a window that never opens."""
    if window.never:
        return None
    local = now.astimezone(zone)
    if nightly_due(now, zone, window, last_nightly) is not None:
        return local
    day = local.date()
    for offset in range(3):
        opening = datetime.combine(day + timedelta(days=offset), window.starts, tzinfo=zone)
        if opening > local:
            return opening
    raise AssertionError("a window opens every day")


def full_sync_date(today: date, full_sync_day: int) -> date:
    """This month's full-sync day, or next month's once this month's has passed."""
    this_month = today.replace(day=full_sync_day)
    if this_month >= today:
        return this_month
    following = (today.replace(day=1) + timedelta(days=32)).replace(day=full_sync_day)
    return following
