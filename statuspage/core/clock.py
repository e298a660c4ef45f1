"""Where "now" comes from. Code asks a Clock, never the wall clock, so tests can set the time.

The one definition of a Clock is `integrations.base.Clock`, which the connectors share; the service
uses the same type and the same system clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from integrations.base import Clock
from integrations.base import utc_now as system_clock

__all__ = ["Clock", "system_clock", "to_utc", "EARLIEST", "LATEST", "out_of_range", "local", "from_wall_clock", "NoSuchLocalTime"]


def to_utc(moment: datetime) -> datetime:
    """The same instant in UTC; raises ValueError for a naive datetime, which names no instant."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


# Every moment the service accepts from outside (maintenance windows, override expiries, sync reports)
# lies in this range, in UTC: far enough from datetime's own limits that converting it to any zone
# (offsets reach ±14:00 and ±24:00 in ISO 8601) can never overflow, and wide enough for any real plan.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def out_of_range(moment: datetime, field: str) -> str | None:
    """Why `moment` (aware) is not accepted as `field`, or None when it lies within [EARLIEST, LATEST).

    Works for every aware datetime, year 1 at +14:00 and 9999-12-31 at -14:00 included."""
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        return (f"{field} must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC); "
                f"got {moment.isoformat()}")
    return None


def local(moment: datetime, zone: tzinfo) -> datetime:
    """`moment` in `zone` for showing; a stored moment too close to datetime's limits to be moved into
    the zone is shown in UTC instead, so that rendering never fails for a stored value."""
    try:
        return moment.astimezone(zone)
    except (OverflowError, ValueError):
        return moment


class NoSuchLocalTime(ValueError):
    """A wall-clock time that does not name exactly one instant in its zone; the message says why."""


def from_wall_clock(naive: datetime, zone: tzinfo, field: str, fold: int | None = None) -> datetime:
    """The instant a wall-clock time names in `zone` (an IANA zone: daylight saving time moves its clocks).

    - A time the clocks skip (Europe/Amsterdam, last Sunday of March, 02:00-02:59) names no instant:
      raises NoSuchLocalTime saying so.
    - A time the clocks pass twice (last Sunday of October, 02:00-02:59) names two: `fold` 0 picks the first
      (summer time), 1 the second; None raises NoSuchLocalTime asking which one (PEP 495's `fold`).
    Returns an aware datetime; compare such values as UTC instants (`to_utc`), never by wall time.
    """
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    wall = naive.replace(tzinfo=None)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        raise NoSuchLocalTime(f"{field} {wall:%Y-%m-%d %H:%M} does not exist in {zone}: the clocks skip that hour "
                              "that night; choose a time after the change")
    if first.utcoffset() == second.utcoffset():
        return first
    if fold not in (0, 1):
        raise NoSuchLocalTime(
            f"{field} {wall:%Y-%m-%d %H:%M} occurs twice in {zone}: the clocks go back that night; choose the first "
            f"(UTC{_offset(first)}) or the second (UTC{_offset(second)})")
    return second if fold == 1 else first


def _offset(moment: datetime) -> str:
    return moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]
