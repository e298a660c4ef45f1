"""Where "now" comes from. Code asks a Clock, never the wall clock, so tests can set the time.

The one definition of a Clock is `integrations.base.Clock`, which the connectors share; the service
uses the same type and the same system clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from integrations.base import Clock
from integrations.base import utc_now as system_clock

__all__ = ["Clock", "system_clock", "to_utc"]


def to_utc(moment: datetime) -> datetime:
    """The same instant in UTC; raises ValueError for a naive datetime, which names no instant."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)
