"""Where "now" comes from. Code asks a Clock, never the wall clock, so tests can set the time.

The one definition of a Clock is `integrations.base.Clock`, which the connectors share; the service
uses the same type and the same system clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from integrations.base import Clock
from integrations.base import utc_now as system_clock

__all__ = ["Clock", "system_clock", "to_utc", "EARLIEST", "LATEST", "out_of_range", "local"]


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
