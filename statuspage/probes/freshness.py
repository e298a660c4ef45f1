"""When an integration's master-data sync is late (seed 000), and which ended syncs count as finished.

Plain Python: every moment is passed in, none is read from a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from statuspage.page.uptime import day_bounds


@dataclass(frozen=True)
class SyncFreshness:
    """Which environments' master-data sync is late today, which never synced, and the age of the
    oldest last sync among the others (seconds)."""

    late: list[str]
    never: list[str]
    oldest_age: float


def sync_freshness(
    last_finished: Mapping[str, datetime], environments: Sequence[str], now: datetime, zone: ZoneInfo, due_by: time
) -> SyncFreshness:
    """Judge each environment's last finished sync against today's `due_by` (local time in `zone`).

    Seed 000: invoices sat in "factuuracties vertraagd" in the morning because the nightly sync was
    still running at opening time. So from `due_by` on, an environment is late while no sync of it has
    finished today: its mirror is yesterday's or older, and a sync is still due (or failed). One that
    finishes after `due_by` ends the lateness: from then on the mirror is fresh and nothing competes with
    the bookings any more (a sync started after the due time, such as a fresh demo's, is never late).
    Before `due_by` nobody is late yet. `last_finished` maps environment keys to when their last sync
    finished (timezone-aware); an environment missing from it never synced.
    """
    local = now.astimezone(zone)
    today_start = day_bounds(local.date(), zone)[0]
    due = datetime.combine(local.date(), due_by, tzinfo=zone)
    late, never, ages = [], [], []
    for environment in environments:
        finished = last_finished.get(environment)
        if finished is None:
            never.append(environment)
            continue
        ages.append((now - finished).total_seconds())
        if now >= due and finished < today_start:
            late.append(environment)
    return SyncFreshness(late, never, max(ages, default=0.0))


@dataclass(frozen=True)
class EndedSync:
    """A sync of every administration and entity of an environment that ended: when, and the administrations
    in which it failed (empty: it ended well)."""

    environment: str
    finished_at: datetime
    failed: frozenset[str]


def finished_syncs(ended: Iterable[EndedSync], unreachable: Mapping[str, set[str]]) -> dict[str, datetime]:
    """Per environment, when its last sync of everything finished: one that ended well, or one whose only failures
    were in administrations its connection user cannot open (`unreachable`, per environment). Such an
    administration cannot be read by any sync; the rights probe reports it, and it must not keep the environment
    from ever counting as synced."""
    last: dict[str, datetime] = {}
    for sync in ended:
        previous = last.get(sync.environment)
        if sync.failed <= unreachable.get(sync.environment, set()) and (previous is None or sync.finished_at > previous):
            last[sync.environment] = sync.finished_at
    return last
