"""The 90-day uptime bar: per local day, the worst state seen and the share of time that was up.

Input is the history of a component's shown status as (moment, status) changes. Days are days of
the page's time zone, so a daylight-saving day lasts 23 or 25 hours. Only outages count as down
time, a partial outage weighted at 0.3 of a major one, as hosted status pages count it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from statuspage.core.vocabulary import ComponentStatus
from statuspage.page.status import worst

DOWNTIME_WEIGHT = {
    ComponentStatus.MAJOR_OUTAGE: 1.0,
    ComponentStatus.PARTIAL_OUTAGE: 0.3,
}


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    status: ComponentStatus


@dataclass(frozen=True)
class Day:
    day: date
    # None: the component did not exist yet, so there is nothing to show for this day.
    worst: ComponentStatus | None
    observed_seconds: float
    down_seconds: float
    seconds_in: dict[ComponentStatus, float] = field(default_factory=dict)

    @property
    def uptime(self) -> float | None:
        if self.observed_seconds <= 0:
            return None
        return 1.0 - self.down_seconds / self.observed_seconds


@dataclass(frozen=True)
class History:
    days: list[Day]

    @property
    def uptime(self) -> float | None:
        observed = sum(day.observed_seconds for day in self.days)
        if observed <= 0:
            return None
        return 1.0 - sum(day.down_seconds for day in self.days) / observed

    @property
    def watched_since(self) -> date | None:
        """The first day with data when the service has watched for less than the whole bar (a fresh
        install): the uptime then covers only the days since, and the page says so. None otherwise."""
        first = next((day.day for day in self.days if day.worst is not None), None)
        return first if first is not None and first != self.days[0].day else None

    def worst_days(self, count: int = 3) -> list[Day]:
        """The days with the most downtime, most first (ties: the later day first); days without any left out."""
        down = [day for day in self.days if day.down_seconds > 0]
        return sorted(down, key=lambda day: (day.down_seconds, day.day), reverse=True)[:count]


def local_days(now: datetime, zone: ZoneInfo, count: int) -> list[date]:
    """The last `count` days of the zone, oldest first, today included."""
    today = now.astimezone(zone).date()
    return [today - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Where a local day starts and ends, in UTC.

    In UTC because Python subtracts two datetimes of the same zone by their wall clocks, which
    would make every day 24 hours long, daylight-saving days included.
    """
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def daily_history(changes: Sequence[StatusChange], now: datetime, zone: ZoneInfo, days: int = 90) -> History:
    """Fold a status history into one entry per local day.

    `changes` must be ordered by time; the first change is when the component came into being.
    Time after `now` is not observed yet and does not count.
    """
    return History([_one_day(changes, day, zone, now) for day in local_days(now, zone, days)])


def _one_day(changes: Sequence[StatusChange], day: date, zone: ZoneInfo, now: datetime) -> Day:
    day_start, day_end = day_bounds(day, zone)
    now = now.astimezone(UTC)
    day_end = min(day_end, now)
    seconds_in: dict[ComponentStatus, float] = {}
    for index, change in enumerate(changes):
        span_end = changes[index + 1].at if index + 1 < len(changes) else now
        start, end = max(change.at.astimezone(UTC), day_start), min(span_end.astimezone(UTC), day_end)
        if end > start:
            seconds_in[change.status] = seconds_in.get(change.status, 0.0) + (end - start).total_seconds()
    if not seconds_in:
        return Day(day, None, 0.0, 0.0)
    down = sum(seconds * DOWNTIME_WEIGHT.get(status, 0.0) for status, seconds in seconds_in.items())
    return Day(day, worst(seconds_in), sum(seconds_in.values()), down, seconds_in)
